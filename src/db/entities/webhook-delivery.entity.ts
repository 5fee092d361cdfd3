import { Check, Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { PROVIDERS, type Provider } from '../../domain/types.js';
import { oneOf } from './columns.js';

/** One webhook delivery as received (migrations InitialSchema, DeliverySigningKey). */
@Entity({ name: 'webhook_deliveries' })
@Check('webhook_deliveries_provider_check', oneOf('provider', PROVIDERS))
@Check('webhook_deliveries_signing_key_check', oneOf('signing_key', ['utf8', 'base64']))
// (received_at DESC, id DESC) and (provider, outcome, received_at DESC, id DESC) in the migration:
// TypeORM has no column order.
@Index('webhook_deliveries_received_idx', ['receivedAt', 'id'])
@Index('webhook_deliveries_provider_idx', ['provider', 'outcome', 'receivedAt', 'id'])
export class WebhookDeliveryEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'webhook_deliveries_pkey' })
  id!: string;

  @Column('text')
  provider!: Provider;

  @Column('timestamptz', { name: 'received_at', default: () => 'now()' })
  receivedAt!: Date;

  /** "accepted", "spooled", "test" (a test ping), or the error code the delivery was answered with. */
  @Column('text')
  outcome!: string;

  @Column('text', { name: 'correlation_id', nullable: true })
  correlationId!: string | null;

  /** Lowercase hex SHA-256 of the raw body: identifies a delivery without keeping it. */
  @Column('text', { name: 'body_sha256', nullable: true })
  bodySha256!: string | null;

  @Column('integer', { name: 'event_count', default: 0 })
  eventCount!: number;

  @Column('integer', { name: 'duplicate_count', default: 0 })
  duplicateCount!: number;

  @Column('integer', { name: 'rejected_count', default: 0 })
  rejectedCount!: number;

  /** Malformed notifications of an authentic delivery, kept raw for an operator. */
  @Column('jsonb', { name: 'rejected_items', nullable: true })
  rejectedItems!: unknown[] | null;

  /** Prove: which key derived from the secret verified it, "utf8" or "base64"; else null. */
  @Column('text', { name: 'signing_key', nullable: true })
  signingKey!: string | null;
}
