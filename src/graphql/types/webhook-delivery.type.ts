import { Field, ID, Int, ObjectType } from 'type-graphql';
import type { WebhookDeliveryRecord } from '../../domain/records.js';
import type { Provider } from '../../domain/types.js';
import type { DeliveryOutcome } from '../../domain/webhook-codes.js';
import { DateTimeScalar } from '../scalars.js';
import { ProviderEnum } from './enums.js';
import { PageInfo } from './page-info.type.js';

@ObjectType('WebhookDelivery', {
  simpleResolvers: true,
  description: 'One webhook POST from a provider and how it was answered',
})
export class WebhookDelivery implements WebhookDeliveryRecord {
  @Field(() => ID)
  id!: string;

  @Field(() => ProviderEnum)
  provider!: Provider;

  @Field(() => DateTimeScalar)
  receivedAt!: Date;

  @Field(() => String, {
    description:
      '"accepted", "spooled", "test" (a provider\'s test ping), or the error code it was answered with',
  })
  // A String in the schema, not an enum: new refusal codes must not break clients' generated types.
  outcome!: DeliveryOutcome;

  @Field(() => String, { nullable: true })
  correlationId!: string | null;

  @Field(() => Int)
  eventCount!: number;

  @Field(() => Int)
  duplicateCount!: number;

  @Field(() => String, {
    nullable: true,
    description:
      'Prove: which key derived from PROVE_WEBHOOK_SECRET verified the token, "utf8" (the whole string) or "base64" (the decoded rest of a whsec_ secret); null otherwise',
  })
  signingKey!: string | null;
}

@ObjectType('WebhookDeliveryEdge', { simpleResolvers: true })
export class WebhookDeliveryEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => WebhookDelivery)
  node!: WebhookDelivery;
}

@ObjectType('WebhookDeliveryConnection', {
  simpleResolvers: true,
  description: 'Webhook deliveries, newest first',
})
export class WebhookDeliveryConnection {
  @Field(() => [WebhookDeliveryEdge])
  edges!: WebhookDeliveryEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}
