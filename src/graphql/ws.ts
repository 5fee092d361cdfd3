import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { GraphQLError, type GraphQLSchema, getOperationAST } from 'graphql';
import type { Logger } from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';
import type { Principal } from '../auth/scopes.js';
import { bearerToken, type TokenVerifier } from '../auth/tokens.js';
import type { Metrics } from '../observability/metrics.js';
import { CLOSE_CODES } from './close-codes.js';
import { type GraphQLContext, makeContext, type Services } from './context.js';
import { maskErrors } from './errors.js';
import { parseDocument, validateOperation } from './limits.js';
import { sharedSubscribe } from './shared-subscribe.js';
import { createConnectionCounter, tooManySubscriptions, WS_LIMITS, type WsLimits } from './ws-limits.js';
import { type SocketExtra, serveGraphqlWs } from './ws-transport.js';

/** Queries and mutations go over HTTP, where the request pipeline (CSRF, metrics, limits) is. */
const ONLY_SUBSCRIPTIONS =
  'only subscriptions are accepted over WebSocket; use HTTP for queries and mutations';
/** A socket's frames are capped: no subscription operation needs more. */
const MAX_MESSAGE_BYTES = 64 * 1024;

interface ConnectionExtra extends SocketExtra {
  principal?: Principal;
}

/** How long a socket asked to close may take to say goodbye before it is cut (a stalled peer never does). */
const CLOSE_GRACE_MS = 5000;

/** Closes a socket, and cuts it if the peer does not complete the close handshake in time. */
function closeSocket(socket: WebSocket, code: number, reason: string): void {
  socket.close(code, reason);
  setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref();
}

export interface WsOptions {
  metrics: Metrics;
  schema: GraphQLSchema;
  services: Services;
  verify: TokenVerifier;
  log: Logger;
  production: boolean;
  /** WS_LIMITS unless given (tests lower them). */
  limits?: WsLimits;
}

/**
 * graphql-ws (subprotocol graphql-transport-ws) on the HTTP server's `upgrade` for /graphql.
 * The token in connection_init is verified in onConnect: a bad or missing one closes the socket
 * with 4403 before any data flows (returning false; throwing would be 4500). A socket beyond the
 * connection limits (src/graphql/ws-limits.ts) is closed there with 4029.
 */
export function createWsServer(opts: WsOptions) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  const limits = opts.limits ?? WS_LIMITS;
  const connections = createConnectionCounter(limits);
  // The masking of GraphQL over HTTP (src/graphql/apollo.ts): graphql-ws sends errors as they are,
  // including a failed statement's message when an event's execution or the replay fails.
  const mask = maskErrors(opts.log, { production: opts.production });
  const masked = (errors: readonly GraphQLError[]) => errors.map((e) => mask(e.toJSON(), e));
  wss.on('connection', (socket) => {
    opts.metrics.wsConnections.inc();
    socket.once('close', () => opts.metrics.wsConnections.dec());
  });
  const disposable = serveGraphqlWs<Record<string, unknown> | undefined, ConnectionExtra>(
    wss,
    {
      schema: opts.schema,
      async onConnect(ctx) {
        const token = bearerToken(ctx.connectionParams?.authorization);
        if (!token) return false;
        let principal: Principal;
        try {
          principal = await opts.verify(token);
        } catch {
          return false;
        }
        const socket = ctx.extra.socket;
        // Closed while its token was being verified: its 'close' has fired, nothing would release a place.
        if (socket.readyState !== socket.OPEN) return false;
        const admission = connections.admit(principal, token);
        if (!admission.ok) {
          closeSocket(socket, CLOSE_CODES.tooManyConnections.code, admission.reason);
          return false; // graphql-ws's 4403 then finds the socket closing and sends nothing
        }
        socket.once('close', admission.release);
        ctx.extra.principal = principal;
        // A subscription ends when its token expires (contract, Auth).
        const expiresAt = principal.expiresAt;
        let timer: NodeJS.Timeout;
        // setTimeout fires at once past 2^31 - 1 ms (24.8 days, below the 30-day token maximum): wait in steps.
        const arm = () => {
          const left = expiresAt - Date.now();
          if (left <= 0)
            return closeSocket(socket, CLOSE_CODES.tokenExpired.code, CLOSE_CODES.tokenExpired.reason);
          timer = setTimeout(arm, Math.min(left, 2 ** 31 - 1));
          timer.unref();
        };
        arm();
        socket.once('close', () => clearTimeout(timer));
        return true;
      },
      // Parses with the token limit and validates with our limits (src/graphql/limits.ts); the
      // returned args have no contextValue, so graphql-ws still builds it with `context` below.
      // One execution per event and distinct operation, shared by every subscriber of it.
      subscribe: sharedSubscribe,
      onSubscribe(ctx, _id, payload) {
        // graphql-ws has registered this operation's id already: beyond the limit means this one is.
        if (Object.keys(ctx.subscriptions).length > limits.subscriptionsPerConnection)
          return [tooManySubscriptions(limits)];
        let document: ReturnType<typeof parseDocument>;
        try {
          document = parseDocument(payload.query);
        } catch (err) {
          if (err instanceof GraphQLError) return [err];
          throw err;
        }
        const operation = getOperationAST(document, payload.operationName);
        if (operation && operation.operation !== 'subscription') {
          return [new GraphQLError(ONLY_SUBSCRIPTIONS, { extensions: { code: 'BAD_REQUEST' } })];
        }
        const errors = validateOperation(opts.schema, document, { hideSuggestions: opts.production });
        if (errors.length > 0) return errors;
        if (!operation) {
          // Several operations and no operationName, or one the document lacks: Apollo's words over HTTP.
          const message = payload.operationName
            ? `Unknown operation named "${payload.operationName}".`
            : 'Must provide operation name if query contains multiple operations.';
          return [new GraphQLError(message, { extensions: { code: 'OPERATION_RESOLUTION_FAILURE' } })];
        }
        return {
          schema: opts.schema,
          document,
          variableValues: payload.variables,
          operationName: payload.operationName,
        };
      },
      onNext(_ctx, _id, _payload, _args, result) {
        // Results are shared between subscribers (shared-subscribe.ts): a copy, never the original.
        return result.errors?.length ? { ...result, errors: masked(result.errors) } : undefined;
      },
      onError(_ctx, _id, _payload, errors) {
        return masked(errors);
      },
      context(ctx): GraphQLContext {
        const socket = ctx.extra.socket;
        return makeContext({
          principal: ctx.extra.principal ?? null,
          requestId: 'ws',
          services: opts.services,
          connection: { close: (code, reason) => closeSocket(socket, code, reason) },
        });
      },
    },
    opts.log,
    (socket, request) => ({ socket, request }),
  );

  return {
    /** Hands /graphql upgrades to graphql-ws; anything else is refused. */
    handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
      const path = (req.url ?? '').split('?')[0];
      if (path !== '/graphql') {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    },
    get clientCount(): number {
      return wss.clients.size;
    },
    /** Closes every socket with 1001 and stops the server. */
    async close(): Promise<void> {
      for (const ws of wss.clients) ws.close(CLOSE_CODES.goingAway.code, CLOSE_CODES.goingAway.reason);
      await disposable.dispose(); // also closes the WebSocketServer
    },
  };
}
