import type { DataSource } from 'typeorm';
import type { Principal, Scope } from '../auth/scopes.js';
import type { EnrollmentService } from '../enrollment/enrollment.service.js';
import type { ProveGateway } from '../enrollment/prove-gateway.js';
import type { ChangeFeed } from '../feed/feed.js';
import type { ChangeNotifier } from '../feed/notifier.js';
import { forbidden, unauthenticated } from './errors.js';
import { createLoaders, type Loaders } from './loaders.js';

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
}

/** One context per HTTP request or per WebSocket operation (its batching loaders live here). */
export function makeContext(args: {
  principal: Principal | null;
  requestId: string;
  services: Services;
  connection?: Connection;
}): GraphQLContext {
  return {
    principal: args.principal,
    requestId: args.requestId,
    db: args.services.db,
    services: args.services,
    connection: args.connection ?? null,
    loaders: createLoaders(args.services.db),
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
