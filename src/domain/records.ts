/**
 * What the API reads, as plain data. The data layer (src/data) returns these, the live feed hands them
 * out, and the GraphQL object types implement them: no layer below GraphQL knows of its classes.
 */
import type { EventType, MonitoringStatus, Provider, RiskLevel } from './types.js';
import type { DeliveryOutcome } from './webhook-codes.js';

export interface IdentityRecord {
  id: string;
  provider: Provider;
  providerIdentityId: string | null;
  clientCustomerId: string | null;
  phoneNumber: string | null;
  status: MonitoringStatus;
  riskLevel: RiskLevel;
  enrolledAt: Date | null;
  deactivatedAt: Date | null;
  lastEventAt: Date | null;
}

export interface EventRecord {
  id: string;
  /** Opaque: the event's position (src/domain/cursor.ts). */
  cursor: string;
  identityId: string;
  type: EventType;
  rawType: string;
  provider: Provider;
  providerEventId: string;
  description: string | null;
  occurredAt: Date;
  receivedAt: Date;
  newCarrier: string | null;
  newLineType: string | null;
  verificationStatus: string | null;
}

/** An event as the live feed hands it out: with its position and its identity as read with it. */
export interface FeedEvent extends EventRecord {
  txId: string;
  preloadedIdentity: IdentityRecord;
}

export interface WebhookDeliveryRecord {
  id: string;
  provider: Provider;
  receivedAt: Date;
  outcome: DeliveryOutcome;
  correlationId: string | null;
  eventCount: number;
  duplicateCount: number;
  signingKey: string | null;
}

export interface RiskSummaryRecord {
  byRiskLevel: { riskLevel: RiskLevel; count: number }[];
  byStatus: { status: MonitoringStatus; count: number }[];
  total: number;
}
