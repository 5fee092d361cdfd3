/**
 * The store of enrollment, deactivation and reactivation. Events go through record_events()
 * (sql/functions/record_events.sql), the same path as webhook deliveries, so identity state is always
 * derived by the one policy; nothing here writes status, risk or their timestamps. Single-row reads go
 * through the identity entity; the batch statements stay SQL (docs/adr/0013-typeorm.md).
 */
import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { toEventRows, toSummaryRows } from '../data/ingest-rows.js';
import type { Queryable } from '../data/sql.js';
import { IdentityEntity } from '../db/entities/index.js';
import type { StoredIdentity } from '../domain/enrollment.js';
import type { EventType, MonitoringStatus, NormalizedEvent, Provider } from '../domain/types.js';

/** First key of the two-int advisory locks enrollment takes ('ENRL'), apart from any other lock user. */
const ENROLL_LOCK_CLASS = 0x454e524c;

/**
 * Takes the enrollment locks of `keys` for the rest of the transaction, in hash order so two batches
 * sharing customers cannot deadlock, and returns the database clock read after they were granted: events
 * of serialised enrollments are timed in the order they were serialised in.
 */
export async function lockEnrollmentKeys(q: Queryable, keys: readonly string[]): Promise<Date> {
  const rows = await q.query<{ now: Date }[]>(
    `SELECT clock_timestamp() AS now
     FROM (SELECT count(pg_advisory_xact_lock($1, h)) AS locked
           FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest($2::text[]) AS k ORDER BY h) AS hashes) AS l`,
    [ENROLL_LOCK_CLASS, [...new Set(keys)]],
  );
  const now = rows[0]?.now;
  if (!now) throw new Error('advisory lock statement returned no row');
  return now;
}

export interface LookupItem {
  ord: number;
  provider: Provider;
  clientCustomerId: string | null;
  providerIdentityId: string | null;
}

export interface Existing {
  /** Same provider and providerIdentityId. */
  byId: StoredIdentity | null;
  /** A live (ACTIVE or DEACTIVATED) identity of the same provider and clientCustomerId, other than byId. */
  byCustomer: StoredIdentity | null;
}

/**
 * What is stored for each item, in one statement. Correlated lookups (LATERAL), as in record_events():
 * a join would be planned for the recordset's default estimate and could scan every identity.
 */
export async function findExisting(
  q: Queryable,
  items: readonly LookupItem[],
): Promise<Map<number, Existing>> {
  const out = new Map<number, Existing>(items.map((i) => [i.ord, { byId: null, byCustomer: null }]));
  if (items.length === 0) return out;
  const rows = await q.query<
    { ord: number; via: 'id' | 'customer'; id: string; status: MonitoringStatus; enrolled_at: Date | null }[]
  >(
    `WITH x AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb)
         AS x(ord int, provider text, client_customer_id text, provider_identity_id text))
     SELECT x.ord, 'id' AS via, i.id, i.status, i.enrolled_at
     FROM x CROSS JOIN LATERAL (
       SELECT i.id, i.status, i.enrolled_at FROM identities i
       WHERE i.provider = x.provider AND i.provider_identity_id = x.provider_identity_id) i
     UNION ALL
     SELECT x.ord, 'customer' AS via, c.id, c.status, c.enrolled_at
     FROM x CROSS JOIN LATERAL (
       SELECT i.id, i.status, i.enrolled_at FROM identities i
       WHERE i.provider = x.provider AND i.client_customer_id = x.client_customer_id
         AND i.status IN ('ACTIVE', 'DEACTIVATED')
         AND i.provider_identity_id IS DISTINCT FROM x.provider_identity_id
       ORDER BY i.created_at, i.id
       LIMIT 1) c`,
    [
      JSON.stringify(
        items.map((i) => ({
          ord: i.ord,
          provider: i.provider,
          client_customer_id: i.clientCustomerId,
          provider_identity_id: i.providerIdentityId,
        })),
      ),
    ],
  );
  for (const r of rows) {
    const found = out.get(r.ord);
    if (!found) continue;
    const identity: StoredIdentity = { id: r.id, status: r.status, enrolledAt: r.enrolled_at };
    if (r.via === 'id') found.byId = identity;
    else found.byCustomer = identity;
  }
  return out;
}

/** An identity to create or adopt: its provider id is known by now (Prove's, for PROVE). */
export type EnrolledRow = Pick<IdentityEntity, 'provider' | 'clientCustomerId' | 'phoneNumber'> & {
  providerIdentityId: string;
};

/** A created or adopted identity, as the upsert returns it. */
export type StoredRow = Pick<IdentityEntity, 'id' | 'provider' | 'clientCustomerId'> & {
  providerIdentityId: string;
};

/**
 * Creates the identities, or adopts those a webhook created (never enrolled, not ENDED): the given
 * clientCustomerId and phone number are set, what was stored is kept otherwise. A row a concurrent
 * webhook ended meanwhile is left alone and missing from the answer.
 */
export async function upsertIdentities(q: Queryable, rows: readonly EnrolledRow[]): Promise<StoredRow[]> {
  if (rows.length === 0) return [];
  return q.query<StoredRow[]>(
    `INSERT INTO identities (provider, provider_identity_id, client_customer_id, phone_number)
     SELECT x.provider, x.provider_identity_id, x.client_customer_id, x.phone_number
     FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS (provider text, provider_identity_id text,
       client_customer_id text, phone_number text)) WITH ORDINALITY AS x
     ORDER BY x.ordinality
     ON CONFLICT (provider, provider_identity_id) DO UPDATE SET
       client_customer_id = coalesce(EXCLUDED.client_customer_id, identities.client_customer_id),
       phone_number = coalesce(EXCLUDED.phone_number, identities.phone_number),
       updated_at = now()
     WHERE identities.enrolled_at IS NULL AND identities.status <> 'ENDED'
     RETURNING id, provider, provider_identity_id AS "providerIdentityId", client_customer_id AS "clientCustomerId"`,
    [
      JSON.stringify(
        rows.map((r) => ({
          provider: r.provider,
          provider_identity_id: r.providerIdentityId,
          client_customer_id: r.clientCustomerId,
          phone_number: r.phoneNumber,
        })),
      ),
    ],
  );
}

export interface AdminEventArgs {
  provider: Provider;
  providerIdentityId: string;
  clientCustomerId: string | null;
  type: Extract<EventType, 'ENROLLED' | 'DEACTIVATED' | 'REACTIVATED'>;
  /** Who did it: the token's subject. */
  actor: string;
  occurredAt: Date;
}

const VERB = { ENROLLED: 'enrolled', DEACTIVATED: 'deactivated', REACTIVATED: 'reactivated' } as const;

/** An event an admin's mutation causes, shaped like a provider's so it takes the same path. */
export function adminEvent(a: AdminEventArgs): NormalizedEvent {
  return {
    provider: a.provider,
    // Unique per provider like any provider event id; the prefix keeps them apart from the provider's own.
    providerEventId: `admin:${randomUUID()}`,
    providerIdentityId: a.providerIdentityId,
    clientCustomerId: a.clientCustomerId,
    type: a.type,
    rawType: a.type,
    description: `${VERB[a.type]} by ${a.actor}`,
    occurredAt: a.occurredAt,
    newCarrier: null,
    newLineType: null,
    verificationStatus: null,
  };
}

/** Stores events and derives their identities' state: record_events() without a delivery. */
export async function recordEvents(q: Queryable, events: readonly NormalizedEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const rows = await q.query<{ accepted: number }[]>(
    'SELECT record_events(NULL, $1::jsonb, $2::jsonb) AS accepted',
    [JSON.stringify(toEventRows(events)), JSON.stringify(toSummaryRows(events))],
  );
  return rows[0]?.accepted ?? 0;
}

/** An identity as deactivation and reactivation need it. */
export type MonitoredIdentity = Pick<
  IdentityEntity,
  'id' | 'provider' | 'providerIdentityId' | 'clientCustomerId' | 'status'
>;

const MONITORED = {
  id: true,
  provider: true,
  providerIdentityId: true,
  clientCustomerId: true,
  status: true,
};

export function findIdentity(m: EntityManager, id: string): Promise<MonitoredIdentity | null> {
  return m.findOne(IdentityEntity, { select: MONITORED, where: { id } });
}

/**
 * Locks an identity's row for the rest of the transaction (NO KEY UPDATE, as derive_identity_state()
 * does: webhook event inserts, KEY SHARE through the foreign key, go on) and returns it with the
 * database clock read after the lock was granted, by a statement of its own: a clock in the locking
 * statement's select list may be read before the wait.
 */
export async function lockIdentity(
  m: EntityManager,
  id: string,
): Promise<{ identity: MonitoredIdentity; now: Date } | null> {
  const identity = await m.findOne(IdentityEntity, {
    select: MONITORED,
    where: { id },
    lock: { mode: 'for_no_key_update' },
  });
  if (!identity) return null;
  const rows = await m.query<{ now: Date }[]>('SELECT clock_timestamp() AS now');
  const now = rows[0]?.now;
  if (!now) throw new Error('clock_timestamp() returned no row');
  return { identity, now };
}
