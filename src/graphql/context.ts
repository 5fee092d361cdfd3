import type { DataSource } from 'typeorm';
import type { Principal, Scope } from '../auth/scopes.js';
import { bearerToken, type TokenVerifier } from '../auth/tokens.js';
import type { EnrollmentService } from '../enrollment/enrollment.service.js';
import type { ProveGateway } from '../enrollment/prove-gateway.js';
import type { ChangeFeed } from '../feed/feed.js';
import type { ChangeNotifier } from '../feed/notifier.js';
import { ApiError, forbidden, unauthenticated } from './errors.js';
import { createLoaders, type Loaders } from './loaders.js';
import { ReadTags, UNRECORDED } from './read-tags.js';

/** The process-wide services resolvers may use, built once by the composition root (src/server.ts). */
export interface Services {
  db: DataSource;
  /** Wakes the change feed after a commit that stored events. */
  notifier: ChangeNotifier;
  /** This replica's live event feed. */
  feed: ChangeFeed;
  /** Prove's Identity Manager, or the local sandbox without Prove credentials. */
  gateway: ProveGateway;
  /** Enroll, batch enroll, deactivate, reactivate. */
  enrollment: EnrollmentService;
}

/** The WebSocket an operation arrived on, when it did (subscriptions); null over HTTP. */
export interface Connection {
  close(code: number, reason: string): void;
}

/** What every resolver gets: who is calling and the data access of this process. */
export interface GraphQLContext {
  principal: Principal | null;
  requestId: string;
  db: DataSource;
  services: Services;
  connection: Connection | null;
  /** Batching loaders of this request or WebSocket operation (src/graphql/loaders.ts). */
  loaders: Loaders;
  /** What this request's answer read, for the response cache. */
  reads: ReadTags;
}

/** One context per HTTP request or per WebSocket operation (its batching loaders live here). */
export function makeContext(args: {
  principal: Principal | null;
  requestId: string;
  services: Services;
  connection?: Connection;
}): GraphQLContext {
  // Only HTTP answers are cached: a WebSocket operation records nothing.
  const reads = args.connection ? UNRECORDED : new ReadTags();
  return {
    principal: args.principal,
    requestId: args.requestId,
    db: args.services.db,
    services: args.services,
    connection: args.connection ?? null,
    loaders: createLoaders(args.services.db, reads),
    reads,
  };
}

/**
 * The principal an Authorization value ("Bearer <token>", over HTTP or in graphql-ws's connection_init)
 * names, with its token; throws, saying why, when it is not a bearer token or the token does not verify.
 */
export async function authenticate(
  authorization: unknown,
  verify: TokenVerifier,
): Promise<{ principal: Principal; token: string }> {
  const token = bearerToken(authorization);
  if (!token) throw new Error('not a bearer token');
  return { principal: await verify(token), token };
}

/**
 * The context of each GraphQL request over HTTP (src/graphql/ws.ts builds the WebSocket one). Without an
 * Authorization header the caller is anonymous and resolvers refuse what needs a scope; a header that
 * does not authenticate is refused at once, 401.
 */
export function httpContext(services: Services, verify: TokenVerifier) {
  return async (req: {
    headers: { authorization?: string | undefined };
    id: string;
  }): Promise<GraphQLContext> => {
    const header = req.headers.authorization;
    if (header === undefined) return makeContext({ principal: null, requestId: req.id, services });
    try {
      const { principal } = await authenticate(header, verify);
      return makeContext({ principal, requestId: req.id, services });
    } catch (err) {
      throw new ApiError('UNAUTHENTICATED', `invalid bearer token: ${(err as Error).message}`, {
        http: { status: 401 },
      });
    }
  };
}

/** Throws UNAUTHENTICATED without a principal, FORBIDDEN without the scope. */
export function requireScope(ctx: GraphQLContext, scope: Scope): Principal {
  if (!ctx.principal) throw unauthenticated();
  if (!ctx.principal.scopes.has(scope)) throw forbidden(scope);
  return ctx.principal;
}

export function hasScope(ctx: GraphQLContext, scope: Scope): boolean {
  return ctx.principal?.scopes.has(scope) ?? false;
}
