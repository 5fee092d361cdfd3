import type { Logger } from 'pino';
import type { DeliveryRecord } from './delivery-record.js';
import { type Refusals, refusalReason, withoutRefused } from './item-by-item.js';
import type { Spool } from './spool.js';
import { isDataError, isTransientDbError, type StoreResult } from './store.js';

export interface SpoolLoaderOptions {
  spool: Spool;
  store: (record: DeliveryRecord) => Promise<StoreResult>;
  /** What PostgreSQL refuses of a record, item by item (src/ingest/item-by-item.ts findRefusals). */
  findRefusals: (record: DeliveryRecord) => Promise<Refusals>;
  log: Logger;
  /** How often to try again while PostgreSQL is still unreachable. */
  retryMs?: number;
  onLoaded?: (record: DeliveryRecord, result: StoreResult) => void;
}

/**
 * Loads spooled deliveries into PostgreSQL in arrival order, as soon as it answers: at start-up,
 * after every spooled delivery, and every `retryMs` while anything waits. Idempotent: a record whose
 * events are already stored only adds duplicates, and the file is removed only after commit.
 *
 * A record PostgreSQL refuses as a whole (a data error, SQLSTATE class 22, 23 or 54) is loaded item by
 * item: the events it refuses alone join the delivery's rejected list and the rest are stored. If that
 * still fails, the delivery is stored with every event rejected (kept raw for an operator); only a
 * delivery refused even alone is set aside in failed/.
 */
export function startSpoolLoader(opts: SpoolLoaderOptions) {
  const retryMs = opts.retryMs ?? 1000;
  let running: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;

  /**
   * Stores a record PostgreSQL refused whole (`err`) without the events it refuses alone (and without
   * its summaries), or, when that still fails, with every event rejected. Throws when even the delivery
   * alone is refused.
   */
  async function storeItemByItem(name: string, record: DeliveryRecord, err: unknown): Promise<StoreResult> {
    const refused = await opts.findRefusals(record);
    opts.log.warn(
      { err, record: name, deliveryRefused: refused.delivery !== null, refusedEvents: refused.events.size },
      'spooled delivery refused by the database; loading it item by item',
    );
    if (refused.delivery !== null) throw err;
    try {
      return await opts.store(withoutRefused(record, refused.events));
    } catch (again) {
      if (!isDataError(again)) throw again;
      // Each event is stored alone, not all together: keep every one in the rejected list (raw, for
      // an operator) rather than the whole record in failed/.
      const reason = `not stored with the others: ${refusalReason(again)}`;
      const all = new Map(record.events.map((_, k) => [k, refused.events.get(k) ?? reason]));
      return await opts.store(withoutRefused(record, all));
    }
  }

  async function drain(): Promise<void> {
    for (const name of await opts.spool.pending()) {
      if (stopped) return;
      const read = await opts.spool.read(name);
      if (!read.ok) {
        await opts.spool.setAside(name, read.reason, read.detail);
        continue;
      }
      const record = read.record;
      try {
        let result: StoreResult;
        try {
          result = await opts.store(record);
        } catch (err) {
          if (!isDataError(err)) throw err;
          result = await storeItemByItem(name, record, err);
        }
        await opts.spool.remove(name);
        opts.onLoaded?.(record, result);
      } catch (err) {
        if (isTransientDbError(err)) {
          schedule();
          return; // keep order: nothing after this one loads before it
        }
        opts.log.error({ err, record: name }, 'spooled delivery could not be stored');
        await opts.spool.setAside(name, 'refused');
      }
    }
  }

  function schedule(): void {
    if (stopped || timer) return;
    timer = setTimeout(() => {
      timer = null;
      void kick();
    }, retryMs);
    timer.unref();
  }

  /** Starts a drain unless one is running; a kick during a drain runs another after it. */
  function kick(): Promise<void> {
    if (stopped) return Promise.resolve();
    if (running) {
      schedule();
      return running;
    }
    running = drain()
      .catch((err: unknown) => {
        opts.log.error({ err }, 'spool loader failed');
        schedule();
      })
      .finally(() => {
        running = null;
      });
    return running;
  }

  return {
    kick,
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
