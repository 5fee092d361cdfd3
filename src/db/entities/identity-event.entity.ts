import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { EventType, MonitoringStatus, Provider, RiskLevel } from '../../domain/types.js';

/**
 * One stored event. `tx_id` (the writing transaction, xid8) is left out of the entity on purpose:
 * it is assigned by PostgreSQL and only read by the feed's SQL (docs/adr/0003-event-order.md).
 */
@Entity({ name: 'identity_events' })
export class IdentityEventEntity {
  /** bigint identity, read as a string so no precision is lost. */
  @PrimaryColumn('bigint', { generatedIdentity: 'ALWAYS', insert: false })
  id!: string;

  @Column('uuid', { name: 'identity_id' })
  identityId!: string;

  @Column('uuid', { name: 'delivery_id', nullable: true })
  deliveryId!: string | null;

  @Column('text')
  provider!: Provider;

  @Column('text', { name: 'provider_event_id' })
  providerEventId!: string;

  @Column('text')
  type!: EventType;

  @Column('text', { name: 'raw_type' })
  rawType!: string;

  @Column('text', { nullable: true })
  description!: string | null;

  @Column('timestamptz', { name: 'occurred_at' })
  occurredAt!: Date;

  @Column('timestamptz', { name: 'received_at', default: () => 'now()' })
  receivedAt!: Date;

  @Column('text', { name: 'client_customer_id', nullable: true })
  clientCustomerId!: string | null;

  @Column('text', { name: 'new_carrier', nullable: true })
  newCarrier!: string | null;

  @Column('text', { name: 'new_line_type', nullable: true })
  newLineType!: string | null;

  @Column('text', { name: 'verification_status', nullable: true })
  verificationStatus!: string | null;

  @Column('text', { name: 'status_effect', nullable: true })
  statusEffect!: MonitoringStatus | null;

  @Column('text', { name: 'risk_mode', nullable: true })
  riskMode!: 'raise' | 'replace' | null;

  @Column('text', { name: 'risk_effect', nullable: true })
  riskEffect!: RiskLevel | null;

  @Column('smallint', { default: 0 })
  tiebreak!: number;
}
