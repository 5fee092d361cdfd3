import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { MonitoringStatus, Provider, RiskLevel } from '../../domain/types.js';

@Entity({ name: 'identities' })
export class IdentityEntity {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column('text')
  provider!: Provider;

  @Column('text', { name: 'provider_identity_id', nullable: true })
  providerIdentityId!: string | null;

  @Column('text', { name: 'client_customer_id', nullable: true })
  clientCustomerId!: string | null;

  @Column('text', { name: 'phone_number', nullable: true })
  phoneNumber!: string | null;

  @Column('text')
  status!: MonitoringStatus;

  @Column('text', { name: 'risk_level' })
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
