import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A consumed Prove webhook token id, remembered until the token could no longer be valid. */
@Entity({ name: 'prove_token_ids' })
export class ProveTokenIdEntity {
  @PrimaryColumn('text')
  jti!: string;

  @Column('timestamptz', { name: 'expires_at' })
  expiresAt!: Date;
}
