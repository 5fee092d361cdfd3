import { Field, ID, InputType } from 'type-graphql';
import { type EventCriteria, type EventFilterInput, toEventCriteria } from '../../domain/event-criteria.js';
import type { EventType, Provider } from '../../domain/types.js';
import { asUserInput } from '../errors.js';
import { DateTimeScalar } from '../scalars.js';
import { EventTypeEnum, ProviderEnum } from './enums.js';

/** Every field given must match (AND); an absent or null field does not filter. Parsed by parseEventFilter. */
@InputType('EventFilter')
export class EventFilter implements EventFilterInput {
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

/** Validates an EventFilter (BAD_USER_INPUT with a precise message) into criteria. */
export function parseEventFilter(filter: EventFilter | null | undefined): EventCriteria {
  return asUserInput(() => toEventCriteria(filter));
}
