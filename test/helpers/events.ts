import { randomBytes } from 'node:crypto';
import { toEventRows, toSummaryRows } from '../../src/data/ingest-rows.js';
import type { NormalizedEvent } from '../../src/domain/types.js';
import type { DeliveryRecord } from '../../src/ingest/delivery-record.js';

/** A parsed Prove event as a provider module hands it on, for tests that store events without HTTP. */
export function proveEvent(
  identity: string,
  id: string,
  type: NormalizedEvent['type'],
  occurredAt: Date,
  verificationStatus: string | null = null,
): NormalizedEvent {
  return {
    provider: 'PROVE',
    providerEventId: id,
    providerIdentityId: identity,
    clientCustomerId: null,
    type,
    rawType: type,
    description: null,
    occurredAt,
    newCarrier: null,
    newLineType: null,
    verificationStatus,
  };
}

/** A spooled record as the ingest service writes one, for events a parser let through. */
export function spooledRecord(
  events: NormalizedEvent[],
  over: Partial<DeliveryRecord['delivery']> = {},
): DeliveryRecord {
  const jti = `jti-${randomBytes(6).toString('hex')}`;
  return {
    delivery: {
      provider: 'PROVE',
      receivedAt: new Date().toISOString(),
      outcome: 'spooled',
      correlationId: `corr-${jti}`,
      bodySha256: 'a'.repeat(64),
      jti,
      jtiExpiresAt: new Date(Date.now() + 600_000).toISOString(),
      rejected: [],
      signingKey: 'utf8',
      ...over,
    },
    events: toEventRows(events),
    summaries: toSummaryRows(events),
  };
}
