import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import type { Provider } from '../domain/types.js';
import type { RefusedOutcome } from '../domain/webhook-codes.js';
import type { Metrics } from '../observability/metrics.js';

/** Contract: rejected deliveries are recorded at most 100 a minute per provider, the rest only counted. */
export const REJECTIONS_RECORDED_PER_MINUTE = 100;

/**
 * Takes one from the provider's budget for the minute ($2) and records the rejection only when one
 * was left: a single statement, so replicas racing for the last one never record more than the budget
 * between them (the upsert locks the provider's row; a competing one re-checks its WHERE once it holds
 * the lock). The budget only moves forward: a replica whose clock lags behind the newest minute any
 * replica has seen records nothing until it catches up, which errs towards fewer rows, never more.
 */
const RECORD_WITHIN_BUDGET = `
  WITH budget AS (
    INSERT INTO rejection_budget AS b (provider, window_start, used) VALUES ($1, $2, 1)
    ON CONFLICT (provider) DO UPDATE
      SET window_start = excluded.window_start,
          used = CASE WHEN b.window_start = excluded.window_start THEN b.used + 1 ELSE 1 END
      WHERE b.window_start < excluded.window_start
         OR (b.window_start = excluded.window_start AND b.used < $7)
    RETURNING used
  )
  INSERT INTO webhook_deliveries (provider, received_at, outcome, correlation_id, body_sha256)
  SELECT $1::text, $3::timestamptz, $4::text, $5::text, $6::text WHERE EXISTS (SELECT 1 FROM budget)
  RETURNING id`;

export interface Rejection {
  provider: Provider;
  /** The error code answered. */
  outcome: RefusedOutcome;
  correlationId: string | null;
  bodySha256: string | null;
  /** When the delivery arrived; its minute is the budget it takes from. */
  now: Date;
}

/**
 * Records refused deliveries (outcome = the error code answered) without their body, so an operator
 * sees what was rejected and why, while a flood of forgeries cannot fill the database. Fixed one-minute
 * windows, one budget per provider shared by every replica (table rejection_budget). Each replica also
 * counts what it asked for: past the budget, or once the database said it was spent, a forgery costs
 * no statement at all for the rest of the minute, only a metric.
 */
export function createRejectionRecorder(db: DataSource, metrics: Metrics, log: Logger) {
  const windows = new Map<Provider, { minute: number; asked: number }>();
  const inFlight = new Set<Promise<void>>();

  function notRecorded(provider: Provider): void {
    metrics.rejectedNotRecorded.inc({ provider });
  }

  /** Fire and forget: the refusal is answered at once, and losing this row loses no event. */
  function record(r: Rejection): void {
    const minute = Math.floor(r.now.getTime() / 60_000);
    let w = windows.get(r.provider);
    if (!w || w.minute !== minute) {
      w = { minute, asked: 0 };
      windows.set(r.provider, w);
    }
    if (w.asked >= REJECTIONS_RECORDED_PER_MINUTE) {
      notRecorded(r.provider);
      return;
    }
    w.asked++;
    const window = w;
    const params = [
      r.provider,
      new Date(minute * 60_000),
      r.now,
      r.outcome,
      r.correlationId?.slice(0, 200) ?? null,
      r.bodySha256,
      REJECTIONS_RECORDED_PER_MINUTE,
    ];
    const done: Promise<void> = db
      .query<{ id: string }[]>(RECORD_WITHIN_BUDGET, params)
      .then(
        (rows) => {
          if (rows.length > 0) return;
          // Other replicas spent the budget: stop asking for the rest of this minute.
          window.asked = REJECTIONS_RECORDED_PER_MINUTE;
          notRecorded(r.provider);
        },
        (err: unknown) =>
          // Code and message only: TypeORM's QueryFailedError carries the statement's parameters.
          log.warn(
            { provider: r.provider, code: (err as { code?: unknown }).code, message: (err as Error).message },
            'could not record a rejected delivery',
          ),
      )
      .finally(() => inFlight.delete(done));
    inFlight.add(done);
  }

  return {
    record,
    /** Resolves once every rejection asked for so far is written or given up (before the pool closes). */
    async settled(): Promise<void> {
      while (inFlight.size > 0) await Promise.all(inFlight);
    },
  };
}

export type RecordRejection = ReturnType<typeof createRejectionRecorder>['record'];
