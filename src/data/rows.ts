/**
 * The one place where SQL rows become records (src/domain/records.ts): column lists to select and their mappers.
 * node-postgres returns timestamptz as Date and bigint/xid8/text casts as strings.
 */
import { encodeEventCursor, encodeTimeCursor } from '../domain/cursor.js';
import type { EventRecord, IdentityRecord, WebhookDeliveryRecord } from '../domain/records.js';
import type { EventType, MonitoringStatus, Provider, RiskLevel } from '../domain/types.js';
import type { DeliveryOutcome } from '../domain/webhook-codes.js';
import type { Edge } from './page.js';

/** Integer microseconds since the epoch, exact (extract(epoch …) is numeric): the time part of a cursor. */
export const micros = (column: string) => `(extract(epoch FROM ${column}) * 1000000)::bigint::text`;

/** A cursor's microseconds back to a timestamptz, exactly (no float seconds as to_timestamp() would use). */
export const fromMicros = (param: string) =>
  `(timestamptz 'epoch' + ${param}::bigint * interval '1 microsecond')`;

export const IDENTITY_COLUMNS = `i.id, i.provider, i.provider_identity_id, i.client_customer_id, i.phone_number,
  i.status, i.risk_level, i.enrolled_at, i.deactivated_at, i.last_event_at, ${micros('i.created_at')} AS created_us`;

export interface IdentityRow {
  id: string;
  provider: Provider;
  provider_identity_id: string | null;
  client_customer_id: string | null;
  phone_number: string | null;
  status: MonitoringStatus;
  risk_level: RiskLevel;
  enrolled_at: Date | null;
  deactivated_at: Date | null;
  last_event_at: Date | null;
  created_us: string;
}

export function toIdentityRecord(r: IdentityRow): IdentityRecord {
  return {
    id: r.id,
    provider: r.provider,
    providerIdentityId: r.provider_identity_id,
    clientCustomerId: r.client_customer_id,
    phoneNumber: r.phone_number,
    status: r.status,
    riskLevel: r.risk_level,
    enrolledAt: r.enrolled_at,
    deactivatedAt: r.deactivated_at,
    lastEventAt: r.last_event_at,
  };
}

export const identityEdge = (r: IdentityRow): Edge<IdentityRecord> => ({
  cursor: encodeTimeCursor('identity', { us: r.created_us, id: r.id }),
  node: toIdentityRecord(r),
});

export const EVENT_COLUMNS = `e.id::text AS id, e.tx_id::text AS tx_id, e.identity_id, e.provider,
  e.provider_event_id, e.type, e.raw_type, e.description, e.occurred_at, e.received_at, e.new_carrier,
  e.new_line_type, e.verification_status`;

/**
 * Epoch milliseconds of a timestamptz, as node-postgres's Date of it has them: the sub-millisecond digits
 * dropped (floor, on the exact numeric that extract(epoch …) gives).
 */
const millis = (column: string) => `floor(extract(epoch FROM ${column}) * 1000)`;

/** The fields an aggregate of events may carry besides id and tx_id (always: the cursor), by EventRecord key. */
const EVENT_JSON_COLUMNS = {
  provider: 'e.provider',
  providerEventId: 'e.provider_event_id',
  type: 'e.type',
  rawType: 'e.raw_type',
  description: 'e.description',
  occurredAt: millis('e.occurred_at'),
  receivedAt: millis('e.received_at'),
  newCarrier: 'e.new_carrier',
  newLineType: 'e.new_line_type',
  verificationStatus: 'e.verification_status',
} as const;

export type EventJsonField = keyof typeof EVENT_JSON_COLUMNS;
export const EVENT_JSON_FIELDS = Object.keys(EVENT_JSON_COLUMNS) as EventJsonField[];
const TIMES: ReadonlySet<string> = new Set<EventJsonField>(['occurredAt', 'receivedAt']);

/**
 * An event as a JSON array of its id, its tx_id and `fields` in that order, for an aggregate of events beside
 * another row; `eventJsonEdge` reads it with the same `fields`.
 */
export const eventJson = (fields: readonly EventJsonField[]) =>
  `json_build_array(e.id::text, e.tx_id::text${fields.map((f) => `, ${EVENT_JSON_COLUMNS[f]}`).join('')})`;

/**
 * An event of an `eventJson(fields)` aggregate of `identityId`'s row. The fields not read are null: only
 * the fields a query asks are read (src/graphql/lookahead.ts), so nothing looks at the others.
 */
export function eventJsonEdge(
  identityId: string,
  fields: readonly EventJsonField[],
  j: readonly unknown[],
): Edge<EventRecord> {
  const node = {
    id: j[0],
    cursor: encodeEventCursor({ txId: j[1] as string, id: j[0] as string }),
    identityId,
    type: null,
    rawType: null,
    provider: null,
    providerEventId: null,
    description: null,
    occurredAt: null,
    receivedAt: null,
    newCarrier: null,
    newLineType: null,
    verificationStatus: null,
  } as Record<string, unknown>;
  for (let k = 0; k < fields.length; k++) {
    const field = fields[k] as EventJsonField;
    const value = j[k + 2];
    node[field] = TIMES.has(field) ? new Date(value as number) : value;
  }
  return { cursor: node.cursor as string, node: node as unknown as EventRecord };
}

export interface EventRow {
  id: string;
  tx_id: string;
  identity_id: string;
  provider: Provider;
  provider_event_id: string;
  type: EventType;
  raw_type: string;
  description: string | null;
  occurred_at: Date;
  received_at: Date;
  new_carrier: string | null;
  new_line_type: string | null;
  verification_status: string | null;
}

export function toEventRecord(r: EventRow): EventRecord {
  return {
    id: r.id,
    cursor: encodeEventCursor({ txId: r.tx_id, id: r.id }),
    identityId: r.identity_id,
    type: r.type,
    rawType: r.raw_type,
    provider: r.provider,
    providerEventId: r.provider_event_id,
    description: r.description,
    occurredAt: r.occurred_at,
    receivedAt: r.received_at,
    newCarrier: r.new_carrier,
    newLineType: r.new_line_type,
    verificationStatus: r.verification_status,
  };
}

export function eventEdge(r: EventRow): Edge<EventRecord> {
  const node = toEventRecord(r);
  return { cursor: node.cursor, node };
}

export const DELIVERY_COLUMNS = `d.id, d.provider, d.received_at, d.outcome, d.correlation_id, d.event_count,
  d.duplicate_count, d.signing_key, ${micros('d.received_at')} AS received_us`;

export interface DeliveryRow {
  id: string;
  provider: Provider;
  received_at: Date;
  outcome: DeliveryOutcome;
  correlation_id: string | null;
  event_count: number;
  duplicate_count: number;
  signing_key: string | null;
  received_us: string;
}

export const deliveryEdge = (r: DeliveryRow): Edge<WebhookDeliveryRecord> => ({
  cursor: encodeTimeCursor('delivery', { us: r.received_us, id: r.id }),
  node: {
    id: r.id,
    provider: r.provider,
    receivedAt: r.received_at,
    outcome: r.outcome,
    correlationId: r.correlation_id,
    eventCount: r.event_count,
    duplicateCount: r.duplicate_count,
    signingKey: r.signing_key,
  },
});
