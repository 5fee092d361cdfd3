import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** A consumed Prove webhook token id, remembered until the token could no longer be valid. */
@Entity({ name: 'prove_token_ids' })
// BRIN (migration LeanerDelivery): rows arrive in expiry order, and only the purge reads it.
@Index('prove_token_ids_expiry_idx', ['expiresAt'], { type: 'brin' })
export class ProveTokenIdEntity {
  @PrimaryColumn('text', { primaryKeyConstraintName: 'prove_token_ids_pkey' })
  jti!: string;

  @Column('timestamptz', { name: 'expires_at' })
  expiresAt!: Date;
}
