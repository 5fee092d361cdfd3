import { Arg, Args, Ctx, FieldResolver, ID, Query, Resolver, Root } from 'type-graphql';
import { listIdentities } from '../../data/identity.queries.js';
import { type Connection, toConnection } from '../../data/page.js';
import { maskPhone } from '../../domain/phone.js';
import { type GraphQLContext, hasScope, requireScope } from '../context.js';
import { parseIdentityId } from '../ids.js';
import { eventAfter, pageSize, timeAfter } from '../pagination.js';
import { isFiltering, recordIdentitiesRead } from '../read-tags.js';
import { Identity } from '../types/identity.type.js';
import { IdentityConnection } from '../types/identity-connection.type.js';
import { IdentityEvent } from '../types/identity-event.type.js';
import { IdentityEventConnection } from '../types/identity-event-connection.type.js';
import { IdentitiesArgs, PageArgs } from '../types/list.args.js';

// Kept here too: other modules import it from this file.
export { parseIdentityId };

@Resolver(() => Identity)
export class IdentityResolver {
  @Query(() => Identity, { nullable: true, description: 'One identity by id; null when there is none' })
  async identity(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Identity | null> {
    requireScope(ctx, 'identities:read');
    return ctx.loaders.identity.load(parseIdentityId(id));
  }

  @Query(() => IdentityConnection, { description: 'Identities, newest first' })
  async identities(
    @Args(() => IdentitiesArgs) { filter, first, after }: IdentitiesArgs,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Connection<Identity>> {
    requireScope(ctx, 'identities:read');
    const limit = pageSize(first);
    const position = timeAfter('identity', after);
    const page = toConnection(await listIdentities(ctx.db, filter, limit, position), limit);
    recordIdentitiesRead(ctx.reads, page, { filtered: isFiltering(filter), paged: position !== null });
    return page;
  }

  @FieldResolver(() => String, {
    nullable: true,
    description: 'E.164; masked (last 4 digits kept) without the pii:read scope',
  })
  phoneNumber(@Root() identity: Identity, @Ctx() ctx: GraphQLContext): string | null {
    if (identity.phoneNumber === null) return null;
    return hasScope(ctx, 'pii:read') ? identity.phoneNumber : maskPhone(identity.phoneNumber);
  }

  @FieldResolver(() => IdentityEventConnection, {
    description: "This identity's events, newest first; needs the events:read scope",
  })
  async events(
    @Root() identity: Identity,
    @Args(() => PageArgs) { first, after }: PageArgs,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Connection<IdentityEvent>> {
    requireScope(ctx, 'events:read');
    const limit = pageSize(first);
    const edges = await ctx.loaders.identityEvents.load({
      identityId: identity.id,
      limit,
      after: eventAfter(after),
    });
    return toConnection(edges, limit);
  }
}
