import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { GraphQLSchema } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import type { Principal } from '../auth/scopes.js';
import { bearerToken, type TokenVerifier } from '../auth/tokens.js';
import { type GraphQLContext, makeContext, type Services } from './context.js';

/** Close code for a server going away (RFC 6455 §7.4.1), sent to every socket on shutdown. */
export const GOING_AWAY = 1001;
/** A socket's frames are capped: no subscription operation needs more. */
const MAX_MESSAGE_BYTES = 64 * 1024;

interface SocketExtra extends Record<PropertyKey, unknown> {
  principal?: Principal;
}

export interface WsOptions {
  schema: GraphQLSchema;
  services: Services;
  verify: TokenVerifier;
  log: Logger;
  production: boolean;
}

/**
 * graphql-ws (subprotocol graphql-transport-ws) on the HTTP server's `upgrade` for /graphql.
 * The token in connection_init is verified in onConnect: a bad or missing one closes the socket
 * with 4403 before any data flows (returning false; throwing would be 4500).
 */
export function createWsServer(opts: WsOptions) {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  const disposable = useServer<Record<string, unknown> | undefined, SocketExtra>(
    {
      schema: opts.schema,
      isProd: opts.production,
      async onConnect(ctx) {
        const token = bearerToken(ctx.connectionParams?.authorization);
        if (!token) return false;
        try {
          ctx.extra.principal = await opts.verify(token);
          return true;
        } catch {
          return false;
        }
      },
      context(ctx): GraphQLContext {
        return makeContext({ principal: ctx.extra.principal ?? null, requestId: 'ws', services: opts.services });
      },
    },
    wss,
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
      for (const ws of wss.clients) ws.close(GOING_AWAY, 'server shutting down');
      await disposable.dispose(); // also closes the WebSocketServer
    },
  };
}

export { CloseCode };
