import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { Queryable } from '../data/sql.js';
import type { DataChange } from '../domain/data-change.js';
import type { DeliveryRecord } from './delivery-record.js';

export type StoreResult =
  | { replayed: true }
  | {
      replayed: false;
      deliveryId: string;
      accepted: number;
      duplicates: number;
      /** The identities its new events went to, for the response cache. */
      changed: DataChange;
    };

interface BatchAnswer {
  stored: string[];
  accepted: Record<string, number>;
  changed: Record<string, string[]>;
  created_us: Record<string, string>;
}

/**
 * Commits deliveries in one round trip and one transaction: ingest_batch() (sql/functions/ingest_batch.sql)
 * runs as a single-statement transaction. The answers are in the order of `records`, each what that
 * delivery would have got alone, the earlier ones of the batch counting as already arrived.
 */
export async function storeBatch(db: Queryable, records: readonly DeliveryRecord[]): Promise<StoreResult[]> {
  const ids = records.map(() => randomUUID());
  const deliveries = records.map(({ delivery: d, events }, ord) => ({
    id: ids[ord],
    ord,
    provider: d.provider,
    received_at: d.receivedAt,
    outcome: d.outcome,
    correlation_id: d.correlationId,
    body_sha256: d.bodySha256,
    jti: d.jti,
    jti_expires_at: d.jtiExpiresAt,
    event_count: events.length,
    rejected_items: d.rejected,
    signing_key: d.signingKey ?? null,
  }));
  const events = records.flatMap((r, k) => r.events.map((e) => ({ ...e, delivery_id: ids[k] })));
  events.forEach((e, ord) => {
    e.ord = ord;
  });
  const summaries = records.flatMap((r, k) => r.summaries.map((s) => ({ ...s, delivery_id: ids[k] })));
  const rows = (await db.query('SELECT ingest_batch($1::jsonb, $2::jsonb, $3::jsonb) AS r', [
    JSON.stringify(deliveries),
    JSON.stringify(events),
    JSON.stringify(summaries),
  ])) as { r: BatchAnswer }[];
  const answer = rows[0]?.r;
  if (!answer) throw new Error('ingest_batch returned no row');
  const stored = new Set(answer.stored);
  return records.map((r, k) => {
    const id = ids[k] as string;
    if (!stored.has(id)) return { replayed: true };
    const accepted = answer.accepted[id] ?? 0;
    const identities = (answer.changed[id] ?? []).map((identity) => ({
      id: identity,
      // Unknown (never so): taken as the newest, so a cached first page is dropped rather than kept.
      createdUs: answer.created_us[identity] ?? '9223372036854775807',
    }));
    return {
      replayed: false,
      deliveryId: id,
      accepted,
      duplicates: r.events.length - accepted,
      changed: { identities },
    };
  });
}

/** SQLSTATE classes that mean "the database is not there right now", not "this delivery is wrong". */
const TRANSIENT_SQLSTATE = /^(08|53|57|58|40)/;
/**
 * SQLSTATE classes that mean "PostgreSQL refuses this data": 22 data exception (a date out of range),
 * 23 integrity constraint violation, 54 program limit exceeded (an index row or a nesting too large).
 */
const DATA_SQLSTATE = /^(22|23|54)/;

/** The SQLSTATE of a PostgreSQL error (pg's, or TypeORM's wrapping it), else null. */
export function sqlState(err: unknown): string | null {
  const e = err as { code?: unknown; driverError?: { code?: unknown } };
  const code = typeof e?.code === 'string' ? e.code : e?.driverError?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : null;
}

/**
 * True for failures worth waiting out (connection refused or lost, server shutting down, too many
 * connections); false for errors the same delivery would hit again (a constraint, a bug).
 */
export function isTransientDbError(err: unknown): boolean {
  const code = sqlState(err);
  if (code !== null) return TRANSIENT_SQLSTATE.test(code);
  return true; // Node network errors (ECONNREFUSED…), pool timeouts, "Connection terminated"
}

/** True when PostgreSQL refused the data itself: the same record fails every time, some item of it may not. */
export function isDataError(err: unknown): boolean {
  const code = sqlState(err);
  return code !== null && DATA_SQLSTATE.test(code);
}

/** Forgets Prove token ids that can no longer be replayed (their token expired, skew included). */
export async function purgeExpiredTokenIds(db: DataSource): Promise<void> {
  await db.query('DELETE FROM prove_token_ids WHERE expires_at < now()');
}

/**
 * Deletes delivery records received more than `days` ago (WEBHOOK_DELIVERY_RETENTION_DAYS), `batch` at a
 * time, each batch its own short transaction, so a first purge of a large table holds no long locks and
 * no long transaction (which would hold back the change feed's horizon). Events are kept: they are the
 * identities' history, and their delivery_id has no foreign key (migration EventDeliveryLink); it then
 * names a delivery no longer listed. Returns how many records went. Once `signal` is aborted (shutdown),
 * it stops after the batch under way.
 */
export async function purgeOldDeliveries(
  db: DataSource,
  days: number,
  batch = 5000,
  signal?: AbortSignal,
): Promise<number> {
  let total = 0;
  for (;;) {
    // Counted by a SELECT: for a bare DELETE, TypeORM answers [rows, rowCount] instead of the rows.
    const [row] = (await db.query(
      `WITH gone AS (
         DELETE FROM webhook_deliveries WHERE id IN (
           SELECT id FROM webhook_deliveries WHERE received_at < now() - make_interval(days => $1) LIMIT $2
         ) RETURNING 1
       )
       SELECT count(*)::int AS n FROM gone`,
      [days, batch],
    )) as { n: number }[];
    const deleted = row?.n ?? 0;
    total += deleted;
    if (deleted < batch || signal?.aborted) return total;
  }
}
