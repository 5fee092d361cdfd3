import { Arg, Ctx, FieldResolver, ID, Query, Resolver, Root } from 'type-graphql';
import { IdentityEntity } from '../../db/entities/index.js';
import { maskPhone } from '../../domain/phone.js';
import { type GraphQLContext, hasScope, requireScope } from '../context.js';
import { badInput } from '../errors.js';
import { Identity } from '../types/identity.type.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Validates an identity id before it reaches SQL, so a typo is BAD_USER_INPUT, not a server error. */
export function parseIdentityId(id: string): string {
  if (!UUID.test(id)) throw badInput(`identity id must be a UUID, got ${JSON.stringify(id.slice(0, 64))}`);
  return id.toLowerCase();
}

@Resolver(() => Identity)
export class IdentityResolver {
  @Query(() => Identity, { nullable: true, description: 'One identity by id; null when there is none' })
  async identity(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Identity | null> {
    requireScope(ctx, 'identities:read');
    return ctx.db.getRepository(IdentityEntity).findOneBy({ id: parseIdentityId(id) });
  }

  @FieldResolver(() => String, {
    nullable: true,
    description: 'E.164; masked (last 4 digits kept) without the pii:read scope',
  })
  phoneNumber(@Root() identity: Identity, @Ctx() ctx: GraphQLContext): string | null {
    if (identity.phoneNumber === null) return null;
    return hasScope(ctx, 'pii:read') ? identity.phoneNumber : maskPhone(identity.phoneNumber);
  }
}
