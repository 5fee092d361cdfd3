import type { NormalizedEvent } from '../../src/domain/types.js';

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
