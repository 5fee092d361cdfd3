import type { ColumnType, DataSource } from 'typeorm';
import { XID8 } from './columns.js';
import { IdentityEntity } from './identity.entity.js';
import { IdentityEventEntity } from './identity-event.entity.js';
import { ProveTokenIdEntity } from './prove-token-id.entity.js';
import { RejectionBudgetEntity } from './rejection-budget.entity.js';
import { WebhookDeliveryEntity } from './webhook-delivery.entity.js';

export {
  IdentityEntity,
  IdentityEventEntity,
  ProveTokenIdEntity,
  RejectionBudgetEntity,
  WebhookDeliveryEntity,
};

/**
 * One entity per table the migrations make (TypeORM's own typeorm_migrations aside); test/api/entities.test.ts
 * checks that they describe the migrated schema (docs/adr/0013-typeorm.md).
 */
export const entities = [
  IdentityEntity,
  IdentityEventEntity,
  WebhookDeliveryEntity,
  ProveTokenIdEntity,
  RejectionBudgetEntity,
];

/** Column types the entities use that TypeORM's PostgreSQL driver does not list. */
const UNLISTED_COLUMN_TYPES: readonly ColumnType[] = [XID8];

/**
 * Lets a DataSource, before it is initialized, accept the entities' column types that its driver does
 * not list (TypeORM checks every column's type against a fixed list), and returns it.
 */
export function acceptColumnTypes<T extends DataSource>(ds: T): T {
  const listed = ds.driver.supportedDataTypes;
  for (const t of UNLISTED_COLUMN_TYPES) if (!listed.includes(t)) listed.push(t);
  return ds;
}
