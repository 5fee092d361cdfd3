/**
 * Loading a spooled delivery that PostgreSQL refuses as a whole (src/ingest/spool-loader.ts): find the
 * events it refuses each alone, reject those into the delivery's `rejected` list, store the rest. The
 * parsers catch what they know PostgreSQL refuses (src/ingest/providers/json.ts); this is the net under
 * them, so a verified delivery answered 202 is never dropped whole for one bad item.
 */
import type { DataSource } from 'typeorm';
import type { DeliveryRecord } from './delivery-record.js';
import type { RejectedItem } from './providers/provider.js';
import { isDataError, sqlState, storeBatch } from './store.js';

const MAX_REASON_LENGTH = 300;

/** Why PostgreSQL refused an item, for the operator reading the delivery's rejected list. */
export function refusalReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return `refused by the database (SQLSTATE ${sqlState(err) ?? 'unknown'}): ${message}`.slice(
    0,
    MAX_REASON_LENGTH,
  );
}

/** What PostgreSQL refuses of a record: the delivery itself (without its events), or events each alone. */
export interface Refusals {
  /** Why the delivery row (its rejected list, token id…) is refused even without events, else null. */
  delivery: string | null;
  /** Index in `record.events` → why that event alone is refused. */
  events: Map<number, string>;
}

/**
 * Finds what PostgreSQL refuses of `record`, trying the delivery alone, then each event alone with a
 * bare copy of the delivery, in one transaction that is rolled back: nothing is stored, no token id
 * consumed. Any other failure (PostgreSQL gone again) is thrown, to be waited out.
 */
export async function findRefusals(db: DataSource, record: DeliveryRecord): Promise<Refusals> {
  const refusals: Refusals = { delivery: null, events: new Map() };
  const runner = db.createQueryRunner();
  /** Stores `probe` and undoes it; the reason PostgreSQL refused it, or null. */
  const refusal = async (probe: DeliveryRecord): Promise<string | null> => {
    await runner.query('SAVEPOINT probe');
    try {
      await storeBatch(runner, [probe]);
      return null;
    } catch (err) {
      if (!isDataError(err)) throw err;
      return refusalReason(err);
    } finally {
      await runner.query('ROLLBACK TO SAVEPOINT probe');
    }
  };
  try {
    await runner.startTransaction();
    refusals.delivery = await refusal({ delivery: record.delivery, events: [], summaries: [] });
    if (refusals.delivery !== null) return refusals;
    const bare = { ...record.delivery, jti: null, jtiExpiresAt: null, rejected: [] };
    for (const [k, event] of record.events.entries()) {
      const reason = await refusal({ delivery: bare, events: [{ ...event, ord: 0 }], summaries: [] });
      if (reason !== null) refusals.events.set(k, reason);
    }
    return refusals;
  } finally {
    if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
    await runner.release();
  }
}

/** The index of each event among the delivery's notifications: those the parser did not reject, in order. */
function notificationIndexes(record: DeliveryRecord): number[] {
  const rejected = new Set(record.delivery.rejected.map((r) => r.index));
  const indexes: number[] = [];
  for (let i = 0; indexes.length < record.events.length; i++) if (!rejected.has(i)) indexes.push(i);
  return indexes;
}

/**
 * `record` without the refused events, each moved to the rejected list (raw: the event as parsed; the
 * notification itself is not kept), and without its summaries: they are only a shortcut, and one may
 * count a refused event, so every identity's state is derived from its stored history instead
 * (derive_identity_state), the way ingest_batch() does for any delivery it cannot summarise.
 */
export function withoutRefused(record: DeliveryRecord, refused: ReadonlyMap<number, string>): DeliveryRecord {
  const indexes = notificationIndexes(record);
  const moved: RejectedItem[] = [];
  const kept = record.events.filter((event, k) => {
    const reason = refused.get(k);
    if (reason !== undefined) moved.push({ index: indexes[k] ?? k, reason, raw: event });
    return reason === undefined;
  });
  return {
    delivery: {
      ...record.delivery,
      rejected: [...record.delivery.rejected, ...moved].sort((a, b) => a.index - b.index),
    },
    events: kept.map((event, ord) => ({ ...event, ord })),
    summaries: [],
  };
}
