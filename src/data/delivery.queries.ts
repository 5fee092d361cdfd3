import type { TimePosition } from '../domain/cursor.js';
import type { WebhookDeliveryRecord } from '../domain/records.js';
import type { Provider } from '../domain/types.js';
import type { DeliveryOutcome } from '../domain/webhook-codes.js';
import type { Edge } from './page.js';
import { DELIVERY_COLUMNS, type DeliveryRow, deliveryEdge, fromMicros } from './rows.js';
import { Params, type Queryable, where } from './sql.js';

export interface DeliveryCriteria {
  provider: Provider | null;
  outcome: DeliveryOutcome | null;
}

/**
 * A page of webhook deliveries, newest first by (received_at DESC, id DESC), strictly after `after`;
 * `limit + 1` rows. Served by webhook_deliveries_received_idx, or webhook_deliveries_provider_idx.
 */
export async function listDeliveries(
  db: Queryable,
  criteria: DeliveryCriteria,
  limit: number,
  after: TimePosition | null,
): Promise<Edge<WebhookDeliveryRecord>[]> {
  const p = new Params();
  const conditions: string[] = [];
  if (criteria.provider !== null) conditions.push(`d.provider = ${p.add(criteria.provider)}`);
  if (criteria.outcome !== null) conditions.push(`d.outcome = ${p.add(criteria.outcome)}`);
  if (after) {
    conditions.push(`(d.received_at, d.id) < (${fromMicros(p.add(after.us))}, ${p.add(after.id)}::uuid)`);
  }
  const rows = await db.query<DeliveryRow[]>(
    `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d ${where(conditions)}
     ORDER BY d.received_at DESC, d.id DESC LIMIT ${p.add(limit + 1)}`,
    p.values,
  );
  return rows.map(deliveryEdge);
}
