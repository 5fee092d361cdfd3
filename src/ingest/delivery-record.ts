import { createHash } from 'node:crypto';
import {
  type IngestEventRow,
  type IngestSummaryRow,
  toEventRows,
  toSummaryRows,
} from '../data/ingest-rows.js';
import type { NormalizedEvent, Provider } from '../domain/types.js';
import type { StoredOutcome } from '../domain/webhook-codes.js';
import type { RejectedItem, SigningKey, VerifiedDelivery } from './providers/provider.js';

/**
 * A verified, parsed delivery, as storeBatch() hands it to ingest_batch() (src/ingest/store.ts). The same
 * record goes to PostgreSQL directly or, while it is down, to the spool and later from there.
 */
export interface DeliveryRecord {
  delivery: {
    provider: Provider;
    receivedAt: string;
    /** "accepted" when stored directly, "spooled" when it waited in the spool, "test" for a test ping. */
    outcome: StoredOutcome;
    correlationId: string | null;
    bodySha256: string;
    jti: string | null;
    jtiExpiresAt: string | null;
    rejected: RejectedItem[];
    /** Which key verified it (Prove); absent from records spooled before it was kept. */
    signingKey?: SigningKey | null;
  };
  events: IngestEventRow[];
  summaries: IngestSummaryRow[];
}

export function sha256Hex(raw: Buffer): string {
  return createHash('sha256').update(raw).digest('hex');
}

export function buildRecord(args: {
  provider: Provider;
  raw: Buffer;
  receivedAt: Date;
  verified: VerifiedDelivery;
  events: readonly NormalizedEvent[];
  rejected: RejectedItem[];
  /** A test ping (ParseResult.test): recorded with outcome "test". */
  test?: boolean;
}): DeliveryRecord {
  const guard = args.verified.replayGuard;
  return {
    delivery: {
      provider: args.provider,
      receivedAt: args.receivedAt.toISOString(),
      outcome: args.test ? 'test' : 'accepted',
      correlationId: args.verified.correlationId,
      bodySha256: sha256Hex(args.raw),
      jti: guard?.jti ?? null,
      jtiExpiresAt: guard?.expiresAt.toISOString() ?? null,
      rejected: args.rejected,
      signingKey: args.verified.signingKey,
    },
    events: toEventRows(args.events),
    summaries: toSummaryRows(args.events),
  };
}
