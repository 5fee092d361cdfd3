import { InvalidInputError } from './errors.js';
import { normalizeIdentityId } from './ids.js';
import type { EventType, Provider } from './types.js';

/** What a caller may filter events by; every field given must match (AND), an absent or null one does not filter. */
export interface EventFilterInput {
  identityId?: string | null;
  types?: readonly EventType[] | null;
  providers?: readonly Provider[] | null;
  occurredAfter?: Date | null;
  occurredBefore?: Date | null;
}

/** An event filter once validated: what the SQL (src/data/event.queries.ts) and the live feed match on. */
export interface EventCriteria {
  identityId: string | null;
  types: readonly EventType[] | null;
  providers: readonly Provider[] | null;
  /** Inclusive. */
  occurredAfter: Date | null;
  /** Exclusive: [occurredAfter, occurredBefore) windows tile without overlap or gap. */
  occurredBefore: Date | null;
}

/** Validates a filter into criteria; throws InvalidInputError with a message for the caller. */
export function toEventCriteria(filter: EventFilterInput | null | undefined): EventCriteria {
  const f = filter ?? {};
  // An empty list would match nothing, which is never what a caller means: say so instead.
  if (f.types?.length === 0) {
    throw new InvalidInputError('filter.types must not be empty: omit it to match every type');
  }
  if (f.providers?.length === 0) {
    throw new InvalidInputError('filter.providers must not be empty: omit it to match every provider');
  }
  const occurredAfter = f.occurredAfter ?? null;
  const occurredBefore = f.occurredBefore ?? null;
  if (occurredAfter && occurredBefore && occurredAfter.getTime() > occurredBefore.getTime()) {
    throw new InvalidInputError('filter.occurredAfter must not be later than filter.occurredBefore');
  }
  return {
    identityId: f.identityId == null ? null : normalizeIdentityId(f.identityId),
    types: f.types ? [...new Set(f.types)] : null,
    providers: f.providers ? [...new Set(f.providers)] : null,
    occurredAfter,
    occurredBefore,
  };
}
