import type { TimePosition } from '../domain/cursor.js';
import type { IdentityRecord } from '../domain/records.js';
import type { MonitoringStatus, Provider, RiskLevel } from '../domain/types.js';
import {
  type EventsOfRow,
  type EventsPage,
  eventsOfRow,
  type IdentityWithEvents,
  withEvents,
} from './event.queries.js';
import type { Edge } from './page.js';
import { fromMicros, IDENTITY_COLUMNS, type IdentityRow, identityEdge, toIdentityRecord } from './rows.js';
import { Params, type Queryable, where } from './sql.js';

/** Every field given must match (AND); an absent or null field does not filter. */
export interface IdentityCriteria {
  status?: MonitoringStatus | null;
  riskLevel?: RiskLevel | null;
  provider?: Provider | null;
  clientCustomerId?: string | null;
  providerIdentityId?: string | null;
}

/** A page of identities, newest first: the part of the statement after the select list. */
function identitiesPage(
  p: Params,
  filter: IdentityCriteria | null | undefined,
  limit: number,
  after: TimePosition | null,
): string {
  const conditions: string[] = [];
  if (filter?.status != null) conditions.push(`i.status = ${p.add(filter.status)}`);
  if (filter?.riskLevel != null) conditions.push(`i.risk_level = ${p.add(filter.riskLevel)}`);
  if (filter?.provider != null) conditions.push(`i.provider = ${p.add(filter.provider)}`);
  if (filter?.clientCustomerId != null) {
    conditions.push(`i.client_customer_id = ${p.add(filter.clientCustomerId)}`);
  }
  if (filter?.providerIdentityId != null) {
    conditions.push(`i.provider_identity_id = ${p.add(filter.providerIdentityId)}`);
  }
  if (after) {
    conditions.push(`(i.created_at, i.id) < (${fromMicros(p.add(after.us))}, ${p.add(after.id)}::uuid)`);
  }
  return `FROM identities i ${where(conditions)}
     ORDER BY i.created_at DESC, i.id DESC LIMIT ${p.add(limit + 1)}`;
}

/**
 * A page of identities, newest first by (created_at DESC, id DESC), strictly after `after`;
 * `limit + 1` rows so the caller knows whether there is a next page. Served by identities_created_idx.
 */
export async function listIdentities(
  db: Queryable,
  filter: IdentityCriteria | null | undefined,
  limit: number,
  after: TimePosition | null,
): Promise<Edge<IdentityRecord>[]> {
  const p = new Params();
  const from = identitiesPage(p, filter, limit, after);
  const rows = await db.query<IdentityRow[]>(`SELECT ${IDENTITY_COLUMNS} ${from}`, p.values);
  return rows.map(identityEdge);
}

/**
 * The same page with one page of each identity's events (`events.limit + 1` of them, as
 * eventsOfIdentities reads them), in ONE statement: the events of each row are aggregated into a JSON
 * array beside it, as PostGraphile plans a nested list (docs/adr/0016-one-statement-per-page.md).
 */
export async function listIdentitiesWithEvents(
  db: Queryable,
  filter: IdentityCriteria | null | undefined,
  limit: number,
  after: TimePosition | null,
  events: EventsPage,
): Promise<IdentityWithEvents[]> {
  const p = new Params();
  const aggregate = eventsOfRow(p, events);
  const from = identitiesPage(p, filter, limit, after);
  const rows = await db.query<EventsOfRow[]>(`SELECT ${IDENTITY_COLUMNS}, ${aggregate} ${from}`, p.values);
  return rows.map((row) => withEvents(row, events));
}

/** An identity by id with one page of its events, in one statement; null when there is none. */
export async function identityWithEvents(
  db: Queryable,
  id: string,
  events: EventsPage,
): Promise<IdentityWithEvents | null> {
  const p = new Params();
  const aggregate = eventsOfRow(p, events);
  const rows = await db.query<EventsOfRow[]>(
    `SELECT ${IDENTITY_COLUMNS}, ${aggregate} FROM identities i WHERE i.id = ${p.add(id)}::uuid`,
    p.values,
  );
  return rows[0] ? withEvents(rows[0], events) : null;
}

/** Identities by id, in one statement (the identity loader's batch). Unknown ids are left out. */
export async function identitiesByIds(db: Queryable, ids: readonly string[]): Promise<IdentityRecord[]> {
  const rows = await db.query<IdentityRow[]>(
    `SELECT ${IDENTITY_COLUMNS} FROM identities i WHERE i.id = ANY($1::uuid[])`,
    [[...new Set(ids)]],
  );
  return rows.map(toIdentityRecord);
}
