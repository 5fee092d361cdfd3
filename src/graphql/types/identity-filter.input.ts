import { Field, InputType } from 'type-graphql';
import type { IdentityCriteria } from '../../data/identity.queries.js';
import type { MonitoringStatus, Provider, RiskLevel } from '../../domain/types.js';
import { MonitoringStatusEnum, ProviderEnum, RiskLevelEnum } from './enums.js';

/** Every field given must match (AND); an absent or null field does not filter. */
@InputType('IdentityFilter')
export class IdentityFilter implements IdentityCriteria {
  @Field(() => MonitoringStatusEnum, { nullable: true })
  status?: MonitoringStatus | null;

  @Field(() => RiskLevelEnum, { nullable: true })
  riskLevel?: RiskLevel | null;

  @Field(() => ProviderEnum, { nullable: true })
  provider?: Provider | null;

  @Field(() => String, { nullable: true })
  clientCustomerId?: string | null;

  @Field(() => String, { nullable: true })
  providerIdentityId?: string | null;
}
