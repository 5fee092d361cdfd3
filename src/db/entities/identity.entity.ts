import { Check, Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import {
  MONITORING_STATUSES,
  type MonitoringStatus,
  PROVIDERS,
  type Provider,
  RISK_LEVELS,
  type RiskLevel,
} from '../../domain/types.js';
import { oneOf } from './columns.js';

/**
 * An identity a provider monitors (migration InitialSchema). The table's fillfactor of 80 (room for HOT
 * updates) is a storage option TypeORM cannot declare.
 */
@Entity({ name: 'identities' })
@Check('identities_provider_check', oneOf('provider', PROVIDERS))
@Check('identities_status_check', oneOf('status', MONITORING_STATUSES))
@Check('identities_risk_level_check', oneOf('risk_level', RISK_LEVELS))
// NULL provider ids (local enrollments awaiting one) stay distinct.
@Index('identities_provider_identity_key', ['provider', 'providerIdentityId'], { unique: true })
@Index('identities_customer_idx', ['provider', 'clientCustomerId'], {
  where: 'client_customer_id IS NOT NULL',
})
// (created_at DESC, id DESC) in the migration: TypeORM has no column order.
@Index('identities_created_idx', ['createdAt', 'id'])
export class IdentityEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'identities_pkey' })
  id!: string;

  @Column('text')
  provider!: Provider;

  @Column('text', { name: 'provider_identity_id', nullable: true })
  providerIdentityId!: string | null;

  @Column('text', { name: 'client_customer_id', nullable: true })
  clientCustomerId!: string | null;

  @Column('text', { name: 'phone_number', nullable: true })
  phoneNumber!: string | null;

  @Column('text', { default: 'ACTIVE' })
  status!: MonitoringStatus;

  @Column('text', { name: 'risk_level', default: 'UNKNOWN' })
  riskLevel!: RiskLevel;

  @Column('timestamptz', { name: 'enrolled_at', nullable: true })
  enrolledAt!: Date | null;

  @Column('timestamptz', { name: 'deactivated_at', nullable: true })
  deactivatedAt!: Date | null;

  @Column('timestamptz', { name: 'last_event_at', nullable: true })
  lastEventAt!: Date | null;

  @Column('timestamptz', { name: 'created_at', default: () => 'now()' })
  createdAt!: Date;

  @Column('timestamptz', { name: 'updated_at', default: () => 'now()' })
  updatedAt!: Date;
}
