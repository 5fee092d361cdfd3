import { Field, ObjectType } from 'type-graphql';
import { Identity } from './identity.type.js';
import { PageInfo } from './page-info.type.js';

@ObjectType('IdentityEdge', { simpleResolvers: true })
export class IdentityEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => Identity)
  node!: Identity;
}

@ObjectType('IdentityConnection', {
  simpleResolvers: true,
  description: 'Identities, newest first',
})
export class IdentityConnection {
  @Field(() => [IdentityEdge])
  edges!: IdentityEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}
