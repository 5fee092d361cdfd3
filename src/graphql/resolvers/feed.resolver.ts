import { Args, Resolver, Root, type SubscribeResolverData, Subscription } from 'type-graphql';
import { openEventStream } from '../../feed/event-stream.js';
import { CLOSE_CODES } from '../close-codes.js';
import { type GraphQLContext, requireScope } from '../context.js';
import { eventAfter } from '../pagination.js';
import { parseEventFilter } from '../types/event-filter.input.js';
import { IdentityEvent } from '../types/identity-event.type.js';
import { IdentityEventsArgs } from '../types/list.args.js';

@Resolver()
export class FeedResolver {
  @Subscription(() => IdentityEvent, {
    description:
      'Live events matching the filter. With `after`, first replays every stored matching event after that ' +
      'cursor, in order, then continues live: no gap, no duplicate.',
    subscribe: ({ args, context }: SubscribeResolverData<unknown, IdentityEventsArgs, GraphQLContext>) => {
      requireScope(context, 'events:subscribe');
      return openEventStream({
        feed: context.services.feed,
        db: context.db,
        criteria: parseEventFilter(args.filter),
        after: eventAfter(args.after),
        onOverflow: () =>
          context.connection?.close(CLOSE_CODES.tooFarBehind.code, CLOSE_CODES.tooFarBehind.reason),
      });
    },
  })
  identityEvents(
    @Root() event: IdentityEvent,
    @Args(() => IdentityEventsArgs) _args: IdentityEventsArgs,
  ): IdentityEvent {
    return event;
  }
}
