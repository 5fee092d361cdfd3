import { Arg, Ctx, ID, Mutation, Resolver } from 'type-graphql';
import type { Principal } from '../../auth/scopes.js';
import { EnrollmentError } from '../../enrollment/enrollment.service.js';
import { type GraphQLContext, requireScope } from '../context.js';
import { ApiError } from '../errors.js';
import { parseIdentityId } from '../ids.js';
import { EnrollIdentityInput } from '../types/enrollment.input.js';
import { BatchEnrollPayload } from '../types/enrollment.type.js';
import { Identity } from '../types/identity.type.js';

/** Thin: scope, then the enrollment service (src/enrollment/enrollment.service.ts), then the stored identity. */
@Resolver()
export class EnrollmentResolver {
  @Mutation(() => Identity, { description: 'Enrolls one identity (Prove, or the local sandbox, for PROVE)' })
  async enrollIdentity(
    @Arg('input', () => EnrollIdentityInput) input: EnrollIdentityInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Identity> {
    const actor = actorOf(requireScope(ctx, 'identities:write'));
    return stored(ctx, await run(() => ctx.services.enrollment.enroll(input, actor)));
  }

  @Mutation(() => BatchEnrollPayload, {
    description: '1 to 100 identities; each item succeeds or fails alone, results in input order',
  })
  async batchEnrollIdentities(
    @Arg('identities', () => [EnrollIdentityInput]) identities: EnrollIdentityInput[],
    @Ctx() ctx: GraphQLContext,
  ): Promise<BatchEnrollPayload> {
    const actor = actorOf(requireScope(ctx, 'identities:write'));
    const outcomes = await run(() => ctx.services.enrollment.enrollBatch(identities, actor));
    // Read back after the commit, in one statement (the loader batches every id).
    const loaded = await Promise.all(
      outcomes.map((o) => (o.identityId === null ? null : ctx.loaders.identity.load(o.identityId))),
    );
    const results = outcomes.map((o, i) => ({
      index: o.index,
      identity: loaded[i] ?? null,
      error: o.error,
    }));
    const enrolledCount = results.filter((r) => r.identity !== null).length;
    return { results, enrolledCount, failedCount: results.length - enrolledCount };
  }

  @Mutation(() => Identity, { description: 'Stops monitoring an identity; it can be reactivated' })
  async deactivateIdentity(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Identity> {
    const actor = actorOf(requireScope(ctx, 'identities:write'));
    const identityId = parseIdentityId(id);
    return stored(ctx, await run(() => ctx.services.enrollment.deactivate(identityId, actor)));
  }

  @Mutation(() => Identity, { description: 'Resumes monitoring a DEACTIVATED identity (not an ENDED one)' })
  async reactivateIdentity(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext): Promise<Identity> {
    const actor = actorOf(requireScope(ctx, 'identities:write'));
    const identityId = parseIdentityId(id);
    return stored(ctx, await run(() => ctx.services.enrollment.reactivate(identityId, actor)));
  }
}

/** Who the recorded events name: the token's subject. */
function actorOf(principal: Principal): string {
  return principal.subject?.slice(0, 200) ?? 'a client without subject';
}

/** The service's refusals become API errors with their code; anything else stays unexpected (masked). */
async function run<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof EnrollmentError) {
      const extra = err.existingIdentityId === null ? {} : { existingIdentityId: err.existingIdentityId };
      throw new ApiError(err.code, err.message, extra);
    }
    throw err;
  }
}

async function stored(ctx: GraphQLContext, id: string): Promise<Identity> {
  const identity = await ctx.loaders.identity.load(id);
  // Identities are never deleted: a missing row is a broken invariant, not a user error.
  if (!identity) throw new Error(`identity ${id} not found after it was stored`);
  return identity;
}
