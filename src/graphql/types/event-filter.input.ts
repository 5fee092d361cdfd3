import { Field, ID, InputType } from 'type-graphql';
import type { EventType, Provider } from '../../domain/types.js';
import { badInput } from '../errors.js';
import { parseIdentityId } from '../ids.js';
import { DateTimeScalar } from '../scalars.js';
import { EventTypeEnum, ProviderEnum } from './enums.js';

/** Every field given must match (AND); an absent or null field does not filter. Parsed by parseEventFilter. */
@InputType('EventFilter')
export class EventFilter {
  @Field(() => ID, { nullable: true })
  identityId?: string | null;

  @Field(() => [EventTypeEnum], { nullable: true, description: 'Any of these types; not empty' })
  types?: EventType[] | null;

  @Field(() => [ProviderEnum], { nullable: true, description: 'Any of these providers; not empty' })
  providers?: Provider[] | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'occurredAt at or after this instant' })
  occurredAfter?: Date | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'occurredAt strictly before this instant' })
  occurredBefore?: Date | null;
}

/** An EventFilter once validated: what the SQL (queries/event.queries.ts) and the live feed match on. */
export interface EventCriteria {
  identityId: string | null;
  types: readonly EventType[] | null;
  providers: readonly Provider[] | null;
  /** Inclusive. */
  occurredAfter: Date | null;
  /** Exclusive: [occurredAfter, occurredBefore) windows tile without overlap or gap. */
  occurredBefore: Date | null;
}

/** Validates an EventFilter (BAD_USER_INPUT with a precise message) into criteria. */
export function parseEventFilter(filter: EventFilter | null | undefined): EventCriteria {
  const f = filter ?? {};
  // An empty list would match nothing, which is never what a caller means: say so instead.
  if (f.types?.length === 0) throw badInput('filter.types must not be empty: omit it to match every type');
  if (f.providers?.length === 0) {
    throw badInput('filter.providers must not be empty: omit it to match every provider');
  }
  const occurredAfter = f.occurredAfter ?? null;
  const occurredBefore = f.occurredBefore ?? null;
  if (occurredAfter && occurredBefore && occurredAfter.getTime() > occurredBefore.getTime()) {
    throw badInput('filter.occurredAfter must not be later than filter.occurredBefore');
  }
  return {
    identityId: f.identityId == null ? null : parseIdentityId(f.identityId),
    types: f.types ? [...new Set(f.types)] : null,
    providers: f.providers ? [...new Set(f.providers)] : null,
    occurredAfter,
    occurredBefore,
  };
}
