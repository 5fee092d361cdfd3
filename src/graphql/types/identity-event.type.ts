import { Field, ID, ObjectType } from 'type-graphql';
import type { EventRecord, IdentityRecord } from '../../domain/records.js';
import type { EventType, Provider } from '../../domain/types.js';
import { DateTimeScalar } from '../scalars.js';
import { EventTypeEnum, ProviderEnum } from './enums.js';

/** One stored event. Its `identity` is resolved by IdentityEventResolver through the per-request loader. */
@ObjectType('IdentityEvent', {
  simpleResolvers: true,
  description: 'Something a provider (or an admin) told us about an identity',
})
export class IdentityEvent implements EventRecord {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { description: 'Opaque; pass to `after` to resume after this event' })
  cursor!: string;

  @Field(() => EventTypeEnum)
  type!: EventType;

  @Field(() => String, { description: 'The provider\'s own value, e.g. "LINETYPE_CHANGE"' })
  rawType!: string;

  @Field(() => ProviderEnum)
  provider!: Provider;

  @Field(() => String)
  providerEventId!: string;

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => DateTimeScalar)
  occurredAt!: Date;

  @Field(() => DateTimeScalar)
  receivedAt!: Date;

  @Field(() => String, { nullable: true })
  newCarrier!: string | null;

  @Field(() => String, { nullable: true })
  newLineType!: string | null;

  @Field(() => String, { nullable: true, description: 'Passbase / VOVE status' })
  verificationStatus!: string | null;

  /** Not a GraphQL field: the key `identity` is loaded by. */
  identityId!: string;

  /** Not a GraphQL field: the identity as read with the event by the live feed, when it was. */
  preloadedIdentity?: IdentityRecord;
}
