import { ArgsType, Field, Int } from 'type-graphql';
import type { Provider } from '../../domain/types.js';
import { DEFAULT_FIRST, MAX_FIRST } from '../pagination.js';
import { ProviderEnum } from './enums.js';
import { EventFilter } from './event-filter.input.js';
import { IdentityFilter } from './identity-filter.input.js';

// Argument classes rather than one @Arg per parameter: type-graphql lists parameter arguments in reverse
// order, and inherited fields first, in schema.graphql, while the contract lists (filter, first, after).

/** `first: Int = 20`; validated by pageSize (src/graphql/pagination.ts). */
const FirstField = () =>
  Field(() => Int, {
    nullable: true,
    defaultValue: DEFAULT_FIRST,
    description: `Page size, at least 1; more than ${MAX_FIRST} is served as ${MAX_FIRST}`,
  });

/** `after: String`; validated by the cursor decoders (src/graphql/pagination.ts). */
const AfterField = () =>
  Field(() => String, { nullable: true, description: 'endCursor of the previous page' });

/** Arguments of `Identity.events`. */
@ArgsType()
export class PageArgs {
  @FirstField()
  first!: number | null;

  @AfterField()
  after!: string | null;
}

@ArgsType()
export class IdentitiesArgs {
  @Field(() => IdentityFilter, { nullable: true })
  filter!: IdentityFilter | null;

  @FirstField()
  first!: number | null;

  @AfterField()
  after!: string | null;
}

@ArgsType()
export class EventsArgs {
  @Field(() => EventFilter, { nullable: true })
  filter!: EventFilter | null;

  @FirstField()
  first!: number | null;

  @AfterField()
  after!: string | null;
}

@ArgsType()
export class WebhookDeliveriesArgs {
  @Field(() => ProviderEnum, { nullable: true })
  provider!: Provider | null;

  @Field(() => String, {
    nullable: true,
    description: '"accepted", "spooled", "test" (test pings), or an error code such as "invalid_signature"',
  })
  outcome!: string | null;

  @FirstField()
  first!: number | null;

  @AfterField()
  after!: string | null;
}

/** Arguments of the `identityEvents` subscription. */
@ArgsType()
export class IdentityEventsArgs {
  @Field(() => EventFilter, { nullable: true })
  filter!: EventFilter | null;

  @Field(() => String, {
    nullable: true,
    description: 'A cursor from an event (query or subscription): replay everything after it, then go live',
  })
  after!: string | null;
}
