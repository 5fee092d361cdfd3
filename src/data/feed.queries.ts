import type { EventPosition } from '../domain/cursor.js';
import type { ChangedIdentity } from '../domain/data-change.js';
import type { EventCriteria } from '../domain/event-criteria.js';
import type { FeedEvent } from '../domain/records.js';
import type { MonitoringStatus, Provider, RiskLevel } from '../domain/types.js';
import { eventConditions, VISIBLE } from './event.queries.js';
import { EVENT_COLUMNS, type EventRow, micros, toEventRecord } from './rows.js';
import { Params, type Queryable } from './sql.js';

interface FeedRow extends EventRow {
  i_provider: Provider;
  i_provider_identity_id: string | null;
  i_client_customer_id: string | null;
  i_phone_number: string | null;
  i_status: MonitoringStatus;
  i_risk_level: RiskLevel;
  i_enrolled_at: Date | null;
  i_deactivated_at: Date | null;
  i_last_event_at: Date | null;
  i_created_us: string;
}

function toFeedEvent(r: FeedRow): FeedEvent {
  return {
    ...toEventRecord(r),
    txId: r.tx_id,
    identityCreatedUs: r.i_created_us,
    preloadedIdentity: {
      id: r.identity_id,
      provider: r.i_provider,
      providerIdentityId: r.i_provider_identity_id,
      clientCustomerId: r.i_client_customer_id,
      phoneNumber: r.i_phone_number,
      status: r.i_status,
      riskLevel: r.i_risk_level,
      enrolledAt: r.i_enrolled_at,
      deactivatedAt: r.i_deactivated_at,
      lastEventAt: r.i_last_event_at,
    },
  };
}

/**
 * Events after `after` (and up to `upTo`, when given), oldest first in (tx_id, id) order, only from
 * transactions below the visibility horizon, so no later commit can land behind a position once read
 * (docs/adr/0003-event-order.md). Served by identity_events_feed_idx.
 */
export async function readFeedPage(
  db: Queryable,
  after: EventPosition,
  upTo: EventPosition | null,
  criteria: EventCriteria | null,
  limit: number,
): Promise<FeedEvent[]> {
  const p = new Params();
  const conditions = [
    `(e.tx_id, e.id) > (${p.add(after.txId)}::xid8, ${p.add(after.id)}::bigint)`,
    VISIBLE,
    ...(upTo ? [`(e.tx_id, e.id) <= (${p.add(upTo.txId)}::xid8, ${p.add(upTo.id)}::bigint)`] : []),
    ...(criteria ? eventConditions(p, criteria) : []),
  ];
  const rows: FeedRow[] = await db.query(
    `SELECT ${EVENT_COLUMNS}, i.provider AS i_provider, i.provider_identity_id AS i_provider_identity_id,
       i.client_customer_id AS i_client_customer_id, i.phone_number AS i_phone_number, i.status AS i_status,
       i.risk_level AS i_risk_level, i.enrolled_at AS i_enrolled_at, i.deactivated_at AS i_deactivated_at,
       i.last_event_at AS i_last_event_at, ${micros('i.created_at')} AS i_created_us
     FROM identity_events e JOIN identities i ON i.id = e.identity_id
     WHERE ${conditions.join(' AND ')}
     ORDER BY e.tx_id, e.id
     LIMIT ${p.add(limit)}`,
    p.values,
  );
  return rows.map(toFeedEvent);
}

/** The position of the newest visible event: where a subscription without `after` starts. */
export async function endPosition(db: Queryable): Promise<EventPosition> {
  const rows: { tx_id: string; id: string }[] = await db.query(
    `SELECT e.tx_id::text AS tx_id, e.id::text AS id FROM identity_events e WHERE ${VISIBLE}
     ORDER BY e.tx_id DESC, e.id DESC LIMIT 1`,
  );
  const r = rows[0];
  return r ? { txId: r.tx_id, id: r.id } : { txId: '0', id: '-1' };
}

/**
 * Up to `limit` events after `after`, in feed order, as far as the response cache needs them: their
 * position and their identity. What the feed reads when nobody subscribes.
 */
export async function readChangedIdentities(
  db: Queryable,
  after: EventPosition,
  limit: number,
): Promise<{ end: EventPosition; identities: ChangedIdentity[]; count: number }> {
  const rows = await db.query<{ tx_id: string; id: string; identity_id: string; created_us: string }[]>(
    `SELECT e.tx_id::text AS tx_id, e.id::text AS id, e.identity_id, ${micros('i.created_at')} AS created_us
     FROM identity_events e JOIN identities i ON i.id = e.identity_id
     WHERE (e.tx_id, e.id) > ($1::xid8, $2::bigint) AND ${VISIBLE}
     ORDER BY e.tx_id, e.id LIMIT $3`,
    [after.txId, after.id, limit],
  );
  const last = rows.at(-1);
  const identities = new Map(
    rows.map((r) => [r.identity_id, { id: r.identity_id, createdUs: r.created_us }]),
  );
  return {
    end: last ? { txId: last.tx_id, id: last.id } : after,
    identities: [...identities.values()],
    count: rows.length,
  };
}
