import { Args, Ctx, Query, Resolver } from 'type-graphql';
import { listDeliveries } from '../../data/delivery.queries.js';
import { type Connection, toConnection } from '../../data/page.js';
import { isDeliveryOutcome } from '../../domain/webhook-codes.js';
import { type GraphQLContext, requireScope } from '../context.js';
import { pageSize, timeAfter } from '../pagination.js';
import { WebhookDeliveriesArgs } from '../types/list.args.js';
import { WebhookDelivery, WebhookDeliveryConnection } from '../types/webhook-delivery.type.js';

@Resolver(() => WebhookDelivery)
export class WebhookDeliveryResolver {
  @Query(() => WebhookDeliveryConnection, { description: 'Webhook deliveries, newest first (operators)' })
  async webhookDeliveries(
    @Args(() => WebhookDeliveriesArgs) { provider, outcome, first, after }: WebhookDeliveriesArgs,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Connection<WebhookDelivery>> {
    requireScope(ctx, 'deliveries:read');
    const limit = pageSize(first);
    const position = timeAfter('delivery', after);
    // No row holds an outcome outside the union: answered with the empty page such a filter matches,
    // without a statement (an unknown outcome has always been an empty page, not an error).
    if (outcome != null && !isDeliveryOutcome(outcome)) return toConnection([], limit);
    const criteria = { provider: provider ?? null, outcome: outcome ?? null };
    return toConnection(await listDeliveries(ctx.db, criteria, limit, position), limit);
  }
}
