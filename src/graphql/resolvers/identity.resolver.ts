import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, FieldResolver, ID, Info, Query, Resolver, Root } from 'type-graphql';
import type { EventsPage, IdentityWithEvents } from '../../data/event.queries.js';
import { identityWithEvents, listIdentities, listIdentitiesWithEvents } from '../../data/identity.queries.js';
import { type Connection, toConnection } from '../../data/page.js';
import { EVENT_JSON_FIELDS, type EventJsonField } from '../../data/rows.js';
import { maskPhone } from '../../domain/phone.js';
import { type GraphQLContext, hasScope, requireScope } from '../context.js';
import { parseIdentityId } from '../ids.js';
import { pageKey } from '../loaders.js';
import { argumentsAt, fieldNamesAt } from '../lookahead.js';
import { eventAfter, pageSize, timeAfter } from '../pagination.js';
import { isFiltering, recordIdentitiesRead } from '../read-tags.js';
import { Identity } from '../types/identity.type.js';
import { IdentityConnection } from '../types/identity-connection.type.js';
import { IdentityEvent } from '../types/identity-event.type.js';
import { IdentityEventConnection } from '../types/identity-event-connection.type.js';
import { IdentitiesArgs, PageArgs } from '../types/list.args.js';

// Kept here too: other modules import it from this file.
export { parseIdentityId };

/**
 * The page of events the query asks of the identities at `path`, when it asks one page of them and may see
 * it: then the identities are read with their events in one statement. Null when it asks none or several,
 * or without the scope, or with arguments the `events` resolver refuses (it reads and reports for itself).
 */
function eventsAsked(
  ctx: GraphQLContext,
  info: GraphQLResolveInfo,
  path: readonly string[],
): EventsPage | null {
  if (!hasScope(ctx, 'events:read')) return null;
  const args = argumentsAt(info, path) as { first?: number | null; after?: string | null } | null;
  if (!args) return null;
  try {
    return {
      limit: pageSize(args.first),
      after: eventAfter(args.after),
      fields: eventFieldsAsked(fieldNamesAt(info, [...path, 'edges', 'node'])),
    };
  } catch {
    return null;
  }
}

/** Names of IdentityEvent fields that need no column of their own beyond id and tx_id. */
const WITHOUT_COLUMN: ReadonlySet<string> = new Set(['id', 'cursor', 'identity', '__typename']);

/**
 * The event fields to read for the IdentityEvent fields asked: those asked, or every one when the query
 * asks one this list does not know (a field added to the type and not here costs a wider read, no error).
 */
function eventFieldsAsked(names: Set<string> | null): readonly EventJsonField[] {
  if (names === null) return [];
  const fields = EVENT_JSON_FIELDS.filter((f) => names.has(f));
  const known = [...names].every((n) => WITHOUT_COLUMN.has(n) || fields.includes(n as EventJsonField));
  return known ? fields : EVENT_JSON_FIELDS;
}

/** The identity of a row read with its events, holding them for its `events` field. */
function withPreloadedEvents(read: IdentityWithEvents, page: EventsPage): Identity {
  return Object.assign(read.edge.node, { preloadedEvents: { page: pageKey(page), edges: read.events } });
}

@Resolver(() => Identity)
export class IdentityResolver {
  @Query(() => Identity, { nullable: true, description: 'One identity by id; null when there is none' })
  async identity(
    @Arg('id', () => ID) id: string,
    @Ctx() ctx: GraphQLContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<Identity | null> {
    requireScope(ctx, 'identities:read');
    const identityId = parseIdentityId(id);
    const events = eventsAsked(ctx, info, ['events']);
    if (!events) return ctx.loaders.identity.load(identityId);
    ctx.reads.identity(identityId);
    const read = await identityWithEvents(ctx.db, identityId, events);
    return read && withPreloadedEvents(read, events);
  }

  @Query(() => IdentityConnection, { description: 'Identities, newest first' })
  async identities(
    @Args(() => IdentitiesArgs) { filter, first, after }: IdentitiesArgs,
    @Ctx() ctx: GraphQLContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<Connection<Identity>> {
    requireScope(ctx, 'identities:read');
    const limit = pageSize(first);
    const position = timeAfter('identity', after);
    const events = eventsAsked(ctx, info, ['edges', 'node', 'events']);
    const edges = events
      ? (await listIdentitiesWithEvents(ctx.db, filter, limit, position, events)).map((read) => ({
          cursor: read.edge.cursor,
          node: withPreloadedEvents(read, events),
        }))
      : await listIdentities(ctx.db, filter, limit, position);
    const page = toConnection(edges, limit);
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
    const page = { limit: pageSize(first), after: eventAfter(after) };
    // Read with the identity when the query asked one page of events for every identity (eventsAsked).
    const preloaded = identity.preloadedEvents;
    if (preloaded?.page === pageKey(page)) {
      ctx.reads.identity(identity.id);
      return toConnection(preloaded.edges, page.limit);
    }
    const edges = await ctx.loaders.identityEvents.load({ identityId: identity.id, ...page });
    return toConnection(edges, page.limit);
  }
}
