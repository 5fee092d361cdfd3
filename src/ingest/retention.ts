import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { purgeExpiredTokenIds, purgeOldDeliveries } from './store.js';

/** How often expired Prove token ids and old delivery records are deleted. */
export const RETENTION_INTERVAL_MS = 5 * 60_000;

export interface RetentionOptions {
  db: DataSource;
  /** WEBHOOK_DELIVERY_RETENTION_DAYS; null keeps delivery records for good. */
  deliveryRetentionDays: number | null;
  log: Logger;
  /** RETENTION_INTERVAL_MS unless given (tests shorten it). */
  intervalMs?: number;
}

export interface Retention {
  /** No more runs; resolves once a run under way has ended (a delivery purge stops after its batch). */
  stop(): Promise<void>;
}

/**
 * Every interval, from one interval after start: forgets the Prove token ids that can no longer be
 * replayed, and deletes the delivery records older than the retention (src/ingest/store.ts). Each job
 * never overlaps itself (a first purge of a large table may outlast the interval: its ticks are skipped
 * until it ends); a run that fails is logged and the next tick tries again.
 */
export function startRetention(opts: RetentionOptions): Retention {
  const { db, log, deliveryRetentionDays: days } = opts;
  const stopping = new AbortController();
  const jobs = [job(log, 'could not purge expired token ids', () => purgeExpiredTokenIds(db))];
  if (days !== null) {
    jobs.push(
      job(log, 'could not purge old delivery records', async () => {
        const deleted = await purgeOldDeliveries(db, days, undefined, stopping.signal);
        if (deleted > 0) log.info({ deleted, days }, 'purged old delivery records');
      }),
    );
  }
  const timer = setInterval(() => {
    for (const j of jobs) j.tick();
  }, opts.intervalMs ?? RETENTION_INTERVAL_MS);
  timer.unref(); // a housekeeping timer does not keep the process alive
  return {
    async stop() {
      clearInterval(timer);
      stopping.abort();
      await Promise.all(jobs.map((j) => j.running));
    },
  };
}

/** A job that runs at most once at a time: a tick while it runs is skipped. */
function job(log: Logger, failed: string, run: () => Promise<void>) {
  let running: Promise<void> | null = null;
  return {
    tick(): void {
      running ??= run()
        .catch((err: unknown) => log.warn({ err }, failed))
        .finally(() => {
          running = null;
        });
    },
    get running(): Promise<void> | null {
      return running;
    },
  };
}
