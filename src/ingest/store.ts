import type { DataSource } from 'typeorm';
import type { DeliveryRecord } from './delivery-record.js';

export type StoreResult =
  | { replayed: true }
  | { replayed: false; deliveryId: string; accepted: number; duplicates: number };

/** Commits one delivery in one round trip: ingest_delivery() runs as a single-statement transaction. */
export async function storeDelivery(db: DataSource, record: DeliveryRecord): Promise<StoreResult> {
  const rows: { r: StoreResult }[] = await db.query(
    'SELECT ingest_delivery($1::jsonb, $2::jsonb, $3::jsonb) AS r',
    [JSON.stringify(record.delivery), JSON.stringify(record.events), JSON.stringify(record.summaries)],
  );
  const r = rows[0]?.r;
  if (!r) throw new Error('ingest_delivery returned no row');
  return r;
}

/** SQLSTATE classes that mean "the database is not there right now", not "this delivery is wrong". */
const TRANSIENT_SQLSTATE = /^(08|53|57|58|40)/;

/**
 * True for failures worth waiting out (connection refused or lost, server shutting down, too many
 * connections); false for errors the same delivery would hit again (a constraint, a bug).
 */
export function isTransientDbError(err: unknown): boolean {
  const e = err as { code?: unknown; driverError?: { code?: unknown } };
  const code = typeof e?.code === 'string' ? e.code : e?.driverError?.code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return TRANSIENT_SQLSTATE.test(code);
  return true; // Node network errors (ECONNREFUSED…), pool timeouts, "Connection terminated"
}

/** Forgets Prove token ids that can no longer be replayed (their token expired, skew included). */
export async function purgeExpiredTokenIds(db: DataSource): Promise<void> {
  await db.query('DELETE FROM prove_token_ids WHERE expires_at < now()');
}
