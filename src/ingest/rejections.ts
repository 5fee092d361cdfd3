import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { WebhookDeliveryEntity } from '../db/entities/index.js';
import type { Provider } from '../domain/types.js';
import type { Metrics } from '../http/metrics.js';

/** Contract: rejected deliveries are recorded at most 100 a minute per provider, the rest only counted. */
export const REJECTIONS_RECORDED_PER_MINUTE = 100;

/**
 * Records refused deliveries (outcome = the error code answered) without their body, so an operator
 * sees what was rejected and why, while a flood of forgeries cannot fill the database.
 * Per replica, fixed one-minute windows.
 */
export function createRejectionRecorder(db: DataSource, metrics: Metrics, log: Logger) {
  const windows = new Map<Provider, { start: number; count: number }>();
  const repo = db.getRepository(WebhookDeliveryEntity);

  return function record(args: {
    provider: Provider;
    outcome: string;
    correlationId: string | null;
    bodySha256: string | null;
    now: Date;
  }): void {
    const minute = Math.floor(args.now.getTime() / 60_000);
    const w = windows.get(args.provider);
    if (!w || w.start !== minute) windows.set(args.provider, { start: minute, count: 1 });
    else if (w.count >= REJECTIONS_RECORDED_PER_MINUTE) {
      metrics.rejectedNotRecorded.inc({ provider: args.provider });
      return;
    } else w.count++;
    // Fire and forget: the refusal is answered at once; losing this row loses no event.
    repo
      .insert({
        provider: args.provider,
        receivedAt: args.now,
        outcome: args.outcome,
        correlationId: args.correlationId?.slice(0, 200) ?? null,
        bodySha256: args.bodySha256,
      })
      .catch((err: unknown) =>
        log.warn({ err, provider: args.provider }, 'could not record a rejected delivery'),
      );
  };
}

export type RejectionRecorder = ReturnType<typeof createRejectionRecorder>;
