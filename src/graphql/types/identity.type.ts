import { Field, ID, ObjectType } from 'type-graphql';
import type { Edge } from '../../data/page.js';
import type { EventRecord, IdentityRecord } from '../../domain/records.js';
import type { MonitoringStatus, Provider, RiskLevel } from '../../domain/types.js';
import { DateTimeScalar } from '../scalars.js';
import { MonitoringStatusEnum, ProviderEnum, RiskLevelEnum } from './enums.js';

@ObjectType('Identity', {
  simpleResolvers: true,
  description: 'A monitored identity with its current status and risk level',
})
export class Identity implements IdentityRecord {
  @Field(() => ID)
  id!: string;

  @Field(() => ProviderEnum)
  provider!: Provider;

  @Field(() => String, { nullable: true, description: 'Prove identityId, Passbase key, VOVE refId' })
  providerIdentityId!: string | null;

  @Field(() => String, { nullable: true })
  clientCustomerId!: string | null;

  /** Resolved by IdentityResolver: masked without pii:read. */
  phoneNumber!: string | null;

  @Field(() => MonitoringStatusEnum)
  status!: MonitoringStatus;

  @Field(() => RiskLevelEnum)
  riskLevel!: RiskLevel;

  @Field(() => DateTimeScalar, { nullable: true })
  enrolledAt!: Date | null;

  @Field(() => DateTimeScalar, { nullable: true })
  deactivatedAt!: Date | null;

  @Field(() => DateTimeScalar, { nullable: true })
  lastEventAt!: Date | null;

  /**
   * Not a GraphQL field: a page of events read with the identity (`limit + 1` edges), and which page
   * (loaders.ts pageKey), when its list or query read them in the same statement.
   */
  preloadedEvents?: { page: string; edges: Edge<EventRecord>[] };
}
