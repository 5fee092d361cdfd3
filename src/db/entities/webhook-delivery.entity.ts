import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { Provider } from '../../domain/types.js';

@Entity({ name: 'webhook_deliveries' })
export class WebhookDeliveryEntity {
  @PrimaryGeneratedColumn('uuid')
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
