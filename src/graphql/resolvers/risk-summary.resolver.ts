import { Arg, Ctx, Query, Resolver } from 'type-graphql';
import { riskSummary } from '../../data/risk-summary.queries.js';
import type { Provider } from '../../domain/types.js';
import { type GraphQLContext, requireScope } from '../context.js';
import { ProviderEnum } from '../types/enums.js';
import { RiskSummary } from '../types/risk-summary.type.js';

@Resolver(() => RiskSummary)
export class RiskSummaryResolver {
  @Query(() => RiskSummary, { description: 'Identity counts by risk level and status, for dashboards' })
  async riskSummary(
    @Arg('provider', () => ProviderEnum, { nullable: true }) provider: Provider | null,
    @Ctx() ctx: GraphQLContext,
  ): Promise<RiskSummary> {
    requireScope(ctx, 'identities:read');
    ctx.reads.anyCommit = true;
    return riskSummary(ctx.db, provider ?? null);
  }
}
