import { Check, Column, Entity, ForeignKey, Index, PrimaryGeneratedColumn } from 'typeorm';
import {
  EVENT_TYPES,
  type EventType,
  MONITORING_STATUSES,
  type MonitoringStatus,
  PROVIDERS,
  type Provider,
  RISK_LEVELS,
  type RiskLevel,
} from '../../domain/types.js';
import { oneOf, XID8 } from './columns.js';
import { IdentityEntity } from './identity.entity.js';

/** One stored event (migrations InitialSchema, EventDeliveryLink, ProveEventKey). */
@Entity({ name: 'identity_events' })
@Check('identity_events_provider_check', oneOf('provider', PROVIDERS))
@Check('identity_events_type_check', oneOf('type', EVENT_TYPES))
@Check('identity_events_status_effect_check', oneOf('status_effect', MONITORING_STATUSES))
@Check('identity_events_risk_mode_check', oneOf('risk_mode', ['raise', 'replace']))
@Check('identity_events_risk_effect_check', oneOf('risk_effect', RISK_LEVELS))
@Check('identity_events_check', '(risk_mode IS NULL) = (risk_effect IS NULL)')
// Idempotency: an event is the same event by provider, event id, identity and raw type (ProveEventKey).
@Index('identity_events_event_key', ['provider', 'providerEventId', 'identityId', 'rawType'], {
  unique: true,
})
// (identity_id, tx_id DESC, id DESC) in the migration: TypeORM has no column order.
@Index('identity_events_identity_idx', ['identityId', 'txId', 'id'])
@Index('identity_events_feed_idx', ['txId', 'id'])
export class IdentityEventEntity {
  /** bigint identity, read as a string so no precision is lost. */
  @PrimaryGeneratedColumn('identity', {
    type: 'bigint',
    generatedIdentity: 'ALWAYS',
    primaryKeyConstraintName: 'identity_events_pkey',
  })
  id!: string;

  /**
   * The writing transaction (docs/adr/0003-event-order.md): assigned by PostgreSQL, read only by the
   * feed's and the event pages' SQL (as text), so TypeORM never reads or writes it.
   */
  @Column({
    type: XID8,
    name: 'tx_id',
    default: () => 'pg_current_xact_id()',
    select: false,
    insert: false,
    update: false,
  })
  txId!: string;

  @Column('uuid', { name: 'identity_id' })
  @ForeignKey(() => IdentityEntity, { name: 'identity_events_identity_id_fkey' })
  identityId!: string;

  /** No foreign key on purpose (migration EventDeliveryLink): it was checked once per event row. */
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

  /** What the policy (src/domain/identity-policy.ts) says this event does to its identity. */
  @Column('text', { name: 'status_effect', nullable: true })
  statusEffect!: MonitoringStatus | null;

  @Column('text', { name: 'risk_mode', nullable: true })
  riskMode!: 'raise' | 'replace' | null;

  @Column('text', { name: 'risk_effect', nullable: true })
  riskEffect!: RiskLevel | null;

  @Column('smallint', { default: 0 })
  tiebreak!: number;
}
