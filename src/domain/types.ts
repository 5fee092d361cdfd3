/** Vocabulary shared by every layer; the names are the public contract (docs/api.md). */

export const PROVIDERS = ['PROVE', 'PASSBASE', 'VOVE'] as const;
export type Provider = (typeof PROVIDERS)[number];

export const MONITORING_STATUSES = ['ACTIVE', 'DEACTIVATED', 'ENDED'] as const;
export type MonitoringStatus = (typeof MONITORING_STATUSES)[number];

/** Ordered from least to most risky: the index is the rank used when risk is raised. */
export const RISK_LEVELS = ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH'] as const;
export type RiskLevel = (typeof RISK_LEVELS)[number];

export const EVENT_TYPES = [
  'PHONE_NUMBER_CHANGE',
  'DISCONNECT',
  'PORT',
  'LINE_TYPE_CHANGE',
  'MOVED_OUT_OF_COVERAGE',
  'VERIFICATION_COMPLETED',
  'VERIFICATION_REVIEWED',
  'VERIFICATION_STATUS_CHANGED',
  'ENROLLED',
  'DEACTIVATED',
  'REACTIVATED',
  'UNKNOWN',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** One provider notification after verification and parsing, before storage. */
export interface NormalizedEvent {
  provider: Provider;
  /** The provider's event id; with provider, identity and rawType, the idempotency key (migration ProveEventKey). */
  providerEventId: string;
  /** Prove identityId/proveId, Passbase key, VOVE refId. */
  providerIdentityId: string;
  clientCustomerId: string | null;
  type: EventType;
  /** The provider's own value, e.g. "LINETYPE_CHANGE" or "VERIFICATION_REVIEWED". */
  rawType: string;
  description: string | null;
  occurredAt: Date;
  newCarrier: string | null;
  newLineType: string | null;
  /** Passbase / VOVE verification status, as sent. */
  verificationStatus: string | null;
}
