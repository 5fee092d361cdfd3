import { Check, Column, Entity, PrimaryColumn } from 'typeorm';
import { PROVIDERS, type Provider } from '../../domain/types.js';
import { oneOf } from './columns.js';

/**
 * The budget of rejected deliveries recorded per provider and minute, shared by every replica
 * (migration RejectionBudget; src/ingest/rejections.ts takes from it).
 */
@Entity({ name: 'rejection_budget' })
@Check('rejection_budget_provider_check', oneOf('provider', PROVIDERS))
@Check('rejection_budget_used_check', 'used > 0')
export class RejectionBudgetEntity {
  @PrimaryColumn('text', { primaryKeyConstraintName: 'rejection_budget_pkey' })
  provider!: Provider;

  /** The minute `used` counts. */
  @Column('timestamptz', { name: 'window_start' })
  windowStart!: Date;

  @Column('integer')
  used!: number;
}
