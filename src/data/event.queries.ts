import type { EventPosition } from '../domain/cursor.js';
import type { EventCriteria } from '../domain/event-criteria.js';
import type { EventRecord, IdentityRecord } from '../domain/records.js';
import type { Edge } from './page.js';
import {
  EVENT_COLUMNS,
  type EventJsonField,
  type EventRow,
  eventEdge,
  eventJson,
  eventJsonEdge,
  type IdentityRow,
  identityEdge,
} from './rows.js';
import { Params, type Queryable, where } from './sql.js';

/**
 * Only events of transactions below the visibility horizon, as the live feed reads them: a cursor taken
 * from a query is then safe to resume a subscription from (no older transaction can still commit an
 * event behind it). The cost is that an event shows up once every older transaction has finished,
 * normally within milliseconds (docs/adr/0003-event-order.md).
 */
export const VISIBLE = 'e.tx_id < (SELECT event_horizon())';

/** `(tx_id, id) < cursor` as one row comparison on xid8 and bigint (docs/adr/0003-event-order.md). */
const before = (p: Params, after: EventPosition) =>
  `(e.tx_id, e.id) < (${p.add(after.txId)}::xid8, ${p.add(after.id)}::bigint)`;

/** The SQL conditions of an EventFilter, for the `events` query (and whoever else lists events). */
export function eventConditions(p: Params, c: EventCriteria): string[] {
  const conditions: string[] = [];
  if (c.identityId) conditions.push(`e.identity_id = ${p.add(c.identityId)}::uuid`);
  if (c.types) conditions.push(`e.type = ANY(${p.add(c.types)}::text[])`);
  if (c.providers) conditions.push(`e.provider = ANY(${p.add(c.providers)}::text[])`);
  if (c.occurredAfter) conditions.push(`e.occurred_at >= ${p.add(c.occurredAfter)}::timestamptz`);
  if (c.occurredBefore) conditions.push(`e.occurred_at < ${p.add(c.occurredBefore)}::timestamptz`);
  return conditions;
}

/**
 * A page of events, newest first by (tx_id DESC, id DESC), strictly older than `after`; `limit + 1` rows.
 * Served by identity_events_identity_idx with an identityId, else by identity_events_feed_idx read backwards.
 */
export async function listEvents(
  db: Queryable,
  criteria: EventCriteria,
  limit: number,
  after: EventPosition | null,
): Promise<Edge<EventRecord>[]> {
  const p = new Params();
  const conditions = [VISIBLE, ...eventConditions(p, criteria)];
  if (after) conditions.push(before(p, after));
  const rows = await db.query<EventRow[]>(
    `SELECT ${EVENT_COLUMNS} FROM identity_events e ${where(conditions)}
     ORDER BY e.tx_id DESC, e.id DESC LIMIT ${p.add(limit + 1)}`,
    p.values,
  );
  return rows.map(eventEdge);
}

/**
 * One identity's page of events as a FROM clause: those of `identity` (an SQL expression) below the
 * visibility horizon and strictly older than `after`, newest first, `limit + 1` of them. An index range
 * scan of identity_events_identity_idx; eventsOfIdentities and eventsOfRow both read a page so.
 */
function pageOfIdentity(
  p: Params,
  identity: string,
  page: { limit: number; after: EventPosition | null },
): string {
  const conditions = [`e.identity_id = ${identity}`, VISIBLE];
  if (page.after) conditions.push(before(p, page.after));
  return `FROM identity_events e ${where(conditions)}
       ORDER BY e.tx_id DESC, e.id DESC LIMIT ${p.add(page.limit + 1)}`;
}

/**
 * The same page (`limit + 1` rows, strictly older than `after`) of the events of each identity, in ONE
 * statement: a LATERAL join over the ids, each side an index range scan of identity_events_identity_idx.
 * Returns the edges per identity id; an identity without events maps to an empty list.
 */
export async function eventsOfIdentities(
  db: Queryable,
  identityIds: readonly string[],
  limit: number,
  after: EventPosition | null,
): Promise<Map<string, Edge<EventRecord>[]>> {
  const p = new Params();
  const ids = p.add([...new Set(identityIds)]);
  const rows = await db.query<EventRow[]>(
    `SELECT e.* FROM unnest(${ids}::uuid[]) AS k(identity_id)
     CROSS JOIN LATERAL (
       SELECT ${EVENT_COLUMNS} ${pageOfIdentity(p, 'k.identity_id', { limit, after })}
     ) e
     ORDER BY e.identity_id, e.tx_id::xid8 DESC, e.id::bigint DESC`,
    p.values,
  );
  const byIdentity = new Map<string, Edge<EventRecord>[]>(identityIds.map((id) => [id, []]));
  for (const row of rows) byIdentity.get(row.identity_id)?.push(eventEdge(row));
  return byIdentity;
}

/** Which page of an identity's events (`limit + 1` of them, strictly older than `after`), with which fields. */
export interface EventsPage {
  limit: number;
  after: EventPosition | null;
  /** Besides id and cursor, which are always read. */
  fields: readonly EventJsonField[];
}

/**
 * A select-list column `events` for a row of identities `i`: that identity's page of events as one JSON
 * array of `eventJson(page.fields)`, newest first: the page eventsOfIdentities reads (pageOfIdentity).
 */
export function eventsOfRow(p: Params, page: EventsPage): string {
  return `(SELECT coalesce(json_agg(${eventJson(page.fields)} ORDER BY e.tx_id DESC, e.id DESC), '[]'::json)
     FROM (SELECT * ${pageOfIdentity(p, 'i.id', page)}) e) AS events`;
}

/** A row of IDENTITY_COLUMNS with its `eventsOfRow` column. */
export type EventsOfRow = IdentityRow & { events: unknown[][] };

/** An identity's edge and its page of events. */
export interface IdentityWithEvents {
  edge: Edge<IdentityRecord>;
  events: Edge<EventRecord>[];
}

export const withEvents = (row: EventsOfRow, page: EventsPage): IdentityWithEvents => ({
  edge: identityEdge(row),
  events: row.events.map((j) => eventJsonEdge(row.id, page.fields, j)),
});
