import { Args, Ctx, FieldResolver, Query, Resolver, Root } from 'type-graphql';
import { listEvents } from '../../data/event.queries.js';
import { type Connection, toConnection } from '../../data/page.js';
import { type GraphQLContext, requireScope } from '../context.js';
import { eventAfter, pageSize } from '../pagination.js';
import { parseEventFilter } from '../types/event-filter.input.js';
import { Identity } from '../types/identity.type.js';
import { IdentityEvent } from '../types/identity-event.type.js';
import { IdentityEventConnection } from '../types/identity-event-connection.type.js';
import { EventsArgs } from '../types/list.args.js';

@Resolver(() => IdentityEvent)
export class IdentityEventResolver {
  @Query(() => IdentityEventConnection, {
    description: 'Events, newest first; a cursor from here can be handed to the identityEvents subscription',
  })
  async events(
    @Args(() => EventsArgs) { filter, first, after }: EventsArgs,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Connection<IdentityEvent>> {
    requireScope(ctx, 'events:read');
    const limit = pageSize(first);
    const criteria = parseEventFilter(filter);
    // One identity's events change only with it; any other list with any commit.
    if (criteria.identityId) ctx.reads.identity(criteria.identityId);
    else ctx.reads.anyCommit = true;
    return toConnection(await listEvents(ctx.db, criteria, limit, eventAfter(after)), limit);
  }

  /** Follows its root's scope (contract, Auth): an event's reader may see whose event it is. */
  @FieldResolver(() => Identity)
  async identity(@Root() event: IdentityEvent, @Ctx() ctx: GraphQLContext): Promise<Identity> {
    // The live feed reads each event with its identity: no query per subscriber.
    if (event.preloadedIdentity) return event.preloadedIdentity;
    const identity = await ctx.loaders.identity.load(event.identityId);
    // identity_events.identity_id is a foreign key: a missing row means a broken invariant, not user error.
    if (!identity) throw new Error(`identity ${event.identityId} of event ${event.id} not found`);
    return identity;
  }
}
