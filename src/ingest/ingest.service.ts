import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { DataChange } from '../domain/data-change.js';
import type { Metrics } from '../observability/metrics.js';
import { buildRecord, type DeliveryRecord, sha256Hex } from './delivery-record.js';
import type { AuthErrorCode, WebhookProvider } from './providers/provider.js';
import type { RecordRejection } from './rejections.js';
import type { Spool } from './spool.js';
import type { StoreResult } from './store.js';

/** Everything a webhook delivery can come to; src/ingest/webhook.routes.ts maps each to HTTP. */
export type IngestOutcome =
  | { kind: 'accepted'; accepted: number; duplicates: number; rejected: number }
  | { kind: 'spooled' }
  | { kind: 'auth_failed'; code: AuthErrorCode }
  | { kind: 'invalid_payload'; message: string }
  | { kind: 'replayed' }
  | { kind: 'not_configured' }
  | { kind: 'unavailable' };

export interface IngestDeps {
  /** Commits one verified delivery in one transaction (the commit queue, src/ingest/commit-queue.ts). */
  store: (record: DeliveryRecord) => Promise<StoreResult>;
  spool: Spool;
  metrics: Metrics;
  log: Logger;
  recordRejection: RecordRejection;
  /** The clock deliveries are received by (verification, received_at, rejection budgets); tests fix it. */
  now?: () => Date;
  /**
   * How long a commit may take before the delivery is spooled instead (COMMIT_DEADLINE_MS by default).
   * A database that hangs (a half-open connection in a failover) errs nothing for minutes.
   */
  commitDeadlineMs?: number;
  /** Called after a delivery is spooled, to start loading as soon as PostgreSQL is back. */
  onSpooled: () => void;
  /** Called after events were committed, to wake the change feed; with what they changed. */
  onCommitted: (change: DataChange) => void;
}

/**
 * A commit that has not answered in this time is taken for a database that hangs rather than refuses:
 * the delivery is spooled and answered 202 (Prove never retries, and gives up waiting itself). A commit
 * under the heaviest load measured here takes well under a second (BENCHMARKS.md).
 */
export const COMMIT_DEADLINE_MS = 10_000;

class CommitDeadlineExceeded extends Error {
  override name = 'CommitDeadlineExceeded';
}

/**
 * The store's answer, or a CommitDeadlineExceeded once `ms` have passed. The commit itself goes on: if
 * it lands after all, loading the spooled copy finds its token id or events already stored (replayed,
 * duplicates), so nothing is stored twice; its failure, if it fails, is only logged.
 */
function withinDeadline<T>(commit: Promise<T>, ms: number, log: Logger): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CommitDeadlineExceeded(`no commit within ${ms} ms`)), ms);
  });
  commit.catch((err: unknown) => log.debug({ err }, 'a commit failed after its deadline or alongside it'));
  return Promise.race([commit, deadline]).finally(() => clearTimeout(timer));
}

/**
 * The one ingest path for every provider: verify the raw bytes, parse, then commit (or spool) in one
 * transaction. It knows nothing about any provider beyond the WebhookProvider interface.
 */
export function createIngestService(deps: IngestDeps) {
  const { metrics, log } = deps;
  const clock = deps.now ?? (() => new Date());

  function refuse(
    provider: WebhookProvider,
    raw: Buffer,
    now: Date,
    outcome: Exclude<IngestOutcome, { kind: 'accepted' | 'spooled' | 'not_configured' | 'unavailable' }>,
    correlationId: string | null,
  ): IngestOutcome {
    const code =
      outcome.kind === 'auth_failed'
        ? outcome.code
        : outcome.kind === 'replayed'
          ? 'replayed_token'
          : 'invalid_payload';
    metrics.webhookDeliveries.inc({ provider: provider.provider, outcome: code });
    deps.recordRejection({
      provider: provider.provider,
      outcome: code,
      correlationId,
      bodySha256: sha256Hex(raw),
      now,
    });
    log.info({ provider: provider.provider, outcome: code, correlationId }, 'webhook delivery refused');
    return outcome;
  }

  async function commitOrSpool(record: DeliveryRecord): Promise<StoreResult | 'spooled' | 'unavailable'> {
    try {
      return await withinDeadline(deps.store(record), deps.commitDeadlineMs ?? COMMIT_DEADLINE_MS, log);
    } catch (err) {
      log.warn(
        { err, provider: record.delivery.provider },
        'database unavailable for a verified delivery; spooling',
      );
      try {
        // A test ping keeps its outcome: an operator looks for it under "test" whichever way it went.
        const outcome = record.delivery.outcome === 'test' ? 'test' : 'spooled';
        await deps.spool.append({ ...record, delivery: { ...record.delivery, outcome } });
        deps.onSpooled();
        return 'spooled';
      } catch (spoolErr) {
        log.error({ err: spoolErr, provider: record.delivery.provider }, 'spool refused a verified delivery');
        return 'unavailable';
      }
    }
  }

  return async function ingest(
    provider: WebhookProvider | null,
    raw: Buffer,
    headers: IncomingHttpHeaders,
  ): Promise<IngestOutcome> {
    if (!provider) return { kind: 'not_configured' };
    const now = clock();
    const verified = await provider.verify(raw, headers, now);
    if (!verified.ok) return refuse(provider, raw, now, { kind: 'auth_failed', code: verified.code }, null);
    const { correlationId, signingKey } = verified.delivery;
    // Counted on verification, whatever comes of the delivery: it tells operators which key Prove uses.
    if (signingKey) metrics.webhookSigningKeys.inc({ provider: provider.provider, key: signingKey });
    const parsed = provider.parse(verified.delivery);
    if (!parsed.ok)
      return refuse(provider, raw, now, { kind: 'invalid_payload', message: parsed.message }, correlationId);

    const record = buildRecord({
      provider: provider.provider,
      raw,
      receivedAt: now,
      verified: verified.delivery,
      events: parsed.events,
      rejected: parsed.rejected,
      test: parsed.test === true,
    });
    const stored = await commitOrSpool(record);
    const p = provider.provider;
    if (stored === 'spooled' || stored === 'unavailable') {
      metrics.webhookDeliveries.inc({ provider: p, outcome: stored });
      return { kind: stored };
    }
    if (stored.replayed) return refuse(provider, raw, now, { kind: 'replayed' }, correlationId);

    if (stored.accepted > 0) deps.onCommitted(stored.changed);
    const rejected = parsed.rejected.length;
    metrics.webhookDeliveries.inc({ provider: p, outcome: record.delivery.outcome });
    metrics.webhookEvents.inc({ provider: p, result: 'accepted' }, stored.accepted);
    if (stored.duplicates) metrics.webhookEvents.inc({ provider: p, result: 'duplicate' }, stored.duplicates);
    if (rejected) metrics.webhookEvents.inc({ provider: p, result: 'rejected' }, rejected);
    log.info(
      {
        provider: p,
        correlationId,
        deliveryId: stored.deliveryId,
        accepted: stored.accepted,
        duplicates: stored.duplicates,
        rejected,
      },
      parsed.test ? 'webhook test ping accepted' : 'webhook delivery accepted',
    );
    return { kind: 'accepted', accepted: stored.accepted, duplicates: stored.duplicates, rejected };
  };
}

export type IngestService = ReturnType<typeof createIngestService>;
