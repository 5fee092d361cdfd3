import type { Logger } from 'pino';
import type { DeliveryRecord } from './delivery-record.js';
import type { Spool } from './spool.js';
import { isTransientDbError, type StoreResult } from './store.js';

export interface SpoolLoaderOptions {
  spool: Spool;
  store: (record: DeliveryRecord) => Promise<StoreResult>;
  log: Logger;
  /** How often to try again while PostgreSQL is still unreachable. */
  retryMs?: number;
  onLoaded?: (record: DeliveryRecord, result: StoreResult) => void;
}

/**
 * Loads spooled deliveries into PostgreSQL in arrival order, as soon as it answers: at start-up,
 * after every spooled delivery, and every `retryMs` while anything waits. Idempotent: a record whose
 * events are already stored only adds duplicates, and the file is removed only after commit.
 */
export function startSpoolLoader(opts: SpoolLoaderOptions) {
  const retryMs = opts.retryMs ?? 1000;
  let running: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;

  async function drain(): Promise<void> {
    for (const name of await opts.spool.pending()) {
      if (stopped) return;
      const record = await opts.spool.read(name);
      try {
        const result = await opts.store(record);
        await opts.spool.remove(name);
        opts.onLoaded?.(record, result);
      } catch (err) {
        if (isTransientDbError(err)) {
          schedule();
          return; // keep order: nothing after this one loads before it
        }
        opts.log.error({ err, record: name }, 'spooled delivery could not be stored');
        await opts.spool.setAside(name);
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
