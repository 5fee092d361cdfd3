import { randomUUID } from 'node:crypto';
import type { Queryable } from '../../src/data/sql.js';
import type { EventType, MonitoringStatus, Provider, RiskLevel } from '../../src/domain/types.js';

export interface SeedIdentity {
  provider?: Provider;
  providerIdentityId?: string | null;
  clientCustomerId?: string | null;
  phoneNumber?: string | null;
  status?: MonitoringStatus;
  riskLevel?: RiskLevel;
  /** A timestamptz literal (microseconds kept, unlike a Date), e.g. '2025-01-01 00:00:00.000001+00'. */
  createdAt?: string;
}

/** Inserts identities in ONE statement; returns their ids in input order. */
export async function seedIdentities(db: Queryable, items: readonly SeedIdentity[]): Promise<string[]> {
  const rows = items.map((i) => ({
    provider: i.provider ?? 'PROVE',
    provider_identity_id: i.providerIdentityId === undefined ? randomUUID() : i.providerIdentityId,
    client_customer_id: i.clientCustomerId ?? null,
    phone_number: i.phoneNumber === undefined ? '+12025550123' : i.phoneNumber,
    status: i.status ?? 'ACTIVE',
    risk_level: i.riskLevel ?? 'UNKNOWN',
    created_at: i.createdAt ?? null,
  }));
  const inserted = await db.query<{ id: string }[]>(
    `INSERT INTO identities (provider, provider_identity_id, client_customer_id, phone_number, status,
       risk_level, created_at)
     SELECT provider, provider_identity_id, client_customer_id, phone_number, status, risk_level,
       coalesce(created_at, now())
     FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS (provider text, provider_identity_id text,
       client_customer_id text, phone_number text, status text, risk_level text, created_at timestamptz)) WITH ORDINALITY AS x
     ORDER BY x.ordinality
     RETURNING id`,
    [JSON.stringify(rows)],
  );
  return inserted.map((r) => r.id);
}

export async function seedIdentity(db: Queryable, item: SeedIdentity = {}): Promise<string> {
  const [id] = await seedIdentities(db, [item]);
  return id!;
}

export interface SeedEvent {
  identityId: string;
  type?: EventType;
  rawType?: string;
  provider?: Provider;
  providerEventId?: string;
  /** ISO 8601 or a timestamptz literal. */
  occurredAt?: string;
  description?: string | null;
  newCarrier?: string | null;
  newLineType?: string | null;
  verificationStatus?: string | null;
}

export interface SeededEvent {
  id: string;
  txId: string;
}

/**
 * Inserts events. `oneTransaction` (the default) writes them in one statement, so they share one tx_id
 * as a webhook delivery's events do; otherwise each is its own transaction, in order.
 */
export async function seedEvents(
  db: Queryable,
  items: readonly SeedEvent[],
  opts: { oneTransaction?: boolean } = {},
): Promise<SeededEvent[]> {
  if (opts.oneTransaction === false) {
    const out: SeededEvent[] = [];
    for (const item of items) out.push(...(await seedEvents(db, [item])));
    return out;
  }
  const rows = items.map((e) => ({
    identity_id: e.identityId,
    provider: e.provider ?? 'PROVE',
    provider_event_id: e.providerEventId ?? randomUUID(),
    type: e.type ?? 'PORT',
    raw_type: e.rawType ?? e.type ?? 'PORT',
    description: e.description ?? null,
    occurred_at: e.occurredAt ?? new Date().toISOString(),
    new_carrier: e.newCarrier ?? null,
    new_line_type: e.newLineType ?? null,
    verification_status: e.verificationStatus ?? null,
  }));
  return db.query<SeededEvent[]>(
    `INSERT INTO identity_events (identity_id, provider, provider_event_id, type, raw_type, description,
       occurred_at, new_carrier, new_line_type, verification_status)
     SELECT identity_id, provider, provider_event_id, type, raw_type, description, occurred_at, new_carrier,
       new_line_type, verification_status
     FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS (identity_id uuid, provider text,
       provider_event_id text, type text, raw_type text, description text, occurred_at timestamptz,
       new_carrier text, new_line_type text, verification_status text)) WITH ORDINALITY AS x
     ORDER BY x.ordinality
     RETURNING id::text AS id, tx_id::text AS "txId"`,
    [JSON.stringify(rows)],
  );
}

export interface SeedDelivery {
  provider?: Provider;
  outcome?: string;
  correlationId?: string | null;
  eventCount?: number;
  duplicateCount?: number;
  /** A timestamptz literal; defaults to now(). */
  receivedAt?: string;
}

/** Inserts webhook delivery records in one statement; returns their ids in input order. */
export async function seedDeliveries(db: Queryable, items: readonly SeedDelivery[]): Promise<string[]> {
  const rows = items.map((d) => ({
    provider: d.provider ?? 'PROVE',
    outcome: d.outcome ?? 'accepted',
    correlation_id: d.correlationId ?? null,
    event_count: d.eventCount ?? 0,
    duplicate_count: d.duplicateCount ?? 0,
    received_at: d.receivedAt ?? null,
  }));
  const inserted = await db.query<{ id: string }[]>(
    `INSERT INTO webhook_deliveries (provider, outcome, correlation_id, event_count, duplicate_count,
       received_at)
     SELECT provider, outcome, correlation_id, event_count, duplicate_count, coalesce(received_at, now())
     FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS (provider text, outcome text,
       correlation_id text, event_count int, duplicate_count int, received_at timestamptz)) WITH ORDINALITY AS x
     ORDER BY x.ordinality
     RETURNING id`,
    [JSON.stringify(rows)],
  );
  return inserted.map((r) => r.id);
}

/** Empties the tables the queries read, between tests of one file (they run one after another). */
export async function clearData(db: Queryable): Promise<void> {
  await db.query('TRUNCATE identity_events, webhook_deliveries, identities, prove_token_ids');
}
