import type { DeliveryRecord } from './delivery-record.js';
import type { StoreResult } from './store.js';

/**
 * The server's settings. Two writers did best here (1,894 deliveries/s, against 1,686 with three and
 * 1,530 with four: more writers make smaller batches and cost more per delivery), and they leave the
 * rest of the pool to queries (BENCHMARKS.md, webhook ingestion).
 */
export const INGEST_BATCHING = { concurrency: 2, maxDeliveries: 50, maxEvents: 2000 } as const;

export interface CommitQueueOptions {
  /** Commits a batch in one transaction; answers in the batch's order (storeBatch in src/ingest/store.ts). */
  write: (records: DeliveryRecord[]) => Promise<StoreResult[]>;
  /** Batches being written at once. A delivery arriving while all are busy waits for the next batch. */
  concurrency: number;
  /** At most this many deliveries per batch… */
  maxDeliveries: number;
  /** …and this many events, unless a single delivery has more. */
  maxEvents: number;
  /** Told the size of every batch written (metrics). */
  onBatch?: (deliveries: number) => void;
}

interface Waiting {
  record: DeliveryRecord;
  resolve: (result: StoreResult) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit for webhook deliveries. Nothing waits on a timer: a delivery is written at once when a
 * writer is free, and those that arrive while every writer is busy go together in the next batch, in
 * arrival order. At low load each delivery is its own transaction; under load one commit serves many,
 * which is what lets PostgreSQL keep up (BENCHMARKS.md, webhook ingestion).
 *
 * A batch that fails is not the fault of every delivery in it (one bad record, a deadlock between two
 * batches): each of its deliveries is then written alone, and only those that fail alone are refused.
 */
export function createCommitQueue(opts: CommitQueueOptions) {
  const waiting: Waiting[] = [];
  let busy = 0;

  function take(): Waiting[] {
    const batch: Waiting[] = [];
    let events = 0;
    while (waiting.length > 0 && batch.length < opts.maxDeliveries) {
      const next = waiting[0] as Waiting;
      if (batch.length > 0 && events + next.record.events.length > opts.maxEvents) break;
      events += next.record.events.length;
      batch.push(waiting.shift() as Waiting);
    }
    return batch;
  }

  async function write(batch: Waiting[]): Promise<void> {
    opts.onBatch?.(batch.length);
    try {
      const results = await opts.write(batch.map((w) => w.record));
      for (const [k, w] of batch.entries()) w.resolve(results[k] as StoreResult);
    } catch (err) {
      if (batch.length === 1) return (batch[0] as Waiting).reject(err);
      await Promise.all(
        batch.map((w) =>
          opts.write([w.record]).then(
            (results) => w.resolve(results[0] as StoreResult),
            (alone: unknown) => w.reject(alone),
          ),
        ),
      );
    }
  }

  function pump(): void {
    while (busy < opts.concurrency && waiting.length > 0) {
      busy++;
      void write(take()).finally(() => {
        busy--;
        pump();
      });
    }
  }

  return {
    /** Resolves once the delivery is committed (or found replayed); rejects when it could not be written. */
    store(record: DeliveryRecord): Promise<StoreResult> {
      return new Promise((resolve, reject) => {
        waiting.push({ record, resolve, reject });
        pump();
      });
    },
    /** Deliveries not yet handed to a writer. */
    get waiting(): number {
      return waiting.length;
    },
  };
}
