import { Field, ObjectType } from 'type-graphql';
import { IdentityEvent } from './identity-event.type.js';
import { PageInfo } from './page-info.type.js';

@ObjectType('IdentityEventEdge', { simpleResolvers: true })
export class IdentityEventEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => IdentityEvent)
  node!: IdentityEvent;
}

@ObjectType('IdentityEventConnection', {
  simpleResolvers: true,
  description: 'Events, newest first by (writer transaction, id); see docs/adr/0003-event-order.md',
})
export class IdentityEventConnection {
  @Field(() => [IdentityEventEdge])
  edges!: IdentityEventEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}
