import type { IncomingMessage } from 'node:http';
import type { ConnectionInitMessage, ServerOptions } from 'graphql-ws';
import { handleProtocols, makeServer } from 'graphql-ws';
import type { Logger } from 'pino';
import type { WebSocket, WebSocketServer } from 'ws';
import { CLOSE_CODES } from './close-codes.js';

/** A ping every 12 s; a socket that has not answered the last one by the next is cut (graphql-ws's default). */
const KEEP_ALIVE_MS = 12_000;

/** What graphql-ws's `ctx.extra` holds for each socket, as with graphql-ws/use/ws. */
export interface SocketExtra {
  readonly socket: WebSocket;
  readonly request: IncomingMessage;
}

/**
 * graphql-ws served on a `ws` server, as graphql-ws/use/ws serves it, except for errors: that glue
 * writes each one to stderr with console.error, stack and all, outside the JSON log. Here a socket's
 * error (a frame over maxPayload, invalid UTF-8: ws has already closed it with 1009, 1007…) is one info
 * line, since the client caused it, and a hook that throws is one error line and a 4500 close.
 */
export function serveGraphqlWs<P extends ConnectionInitMessage['payload'], E extends SocketExtra>(
  wss: WebSocketServer,
  options: ServerOptions<P, E>,
  log: Logger,
  extraOf: (socket: WebSocket, request: IncomingMessage) => E,
): { dispose(): Promise<void> } {
  const server = makeServer<P, E>(options);
  wss.options.handleProtocols = handleProtocols;
  wss.on('error', (err) => log.error({ err }, 'WebSocket server error'));
  wss.on('connection', (socket, request) => {
    socket.on('error', (err) => {
      log.info({ err }, 'WebSocket closed on an error');
      if (socket.readyState === socket.OPEN)
        socket.close(CLOSE_CODES.internalError.code, CLOSE_CODES.internalError.reason);
    });
    let pongWait: NodeJS.Timeout | null = null;
    const ping = setInterval(() => {
      if (socket.readyState !== socket.OPEN) return;
      pongWait = setTimeout(() => socket.terminate(), KEEP_ALIVE_MS);
      socket.once('pong', () => {
        if (pongWait) clearTimeout(pongWait);
        pongWait = null;
      });
      socket.ping();
    }, KEEP_ALIVE_MS);
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise<void>((resolve, reject) => {
            if (socket.readyState !== socket.OPEN) return resolve();
            socket.send(data, (err) => (err ? reject(err) : resolve()));
          }),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (cb) =>
          socket.on('message', async (data) => {
            try {
              await cb(String(data));
            } catch (err) {
              log.error({ err }, 'WebSocket message handling failed');
              socket.close(CLOSE_CODES.internalError.code, CLOSE_CODES.internalError.reason);
            }
          }),
      },
      extraOf(socket, request),
    );
    socket.once('close', (code, reason) => {
      if (pongWait) clearTimeout(pongWait);
      clearInterval(ping);
      closed(code, String(reason)).catch((err: unknown) =>
        log.error({ err }, 'WebSocket close handling failed'),
      );
    });
  });
  return {
    async dispose() {
      for (const client of wss.clients)
        client.close(CLOSE_CODES.goingAway.code, CLOSE_CODES.goingAway.reason);
      wss.removeAllListeners();
      await new Promise<void>((resolve, reject) => wss.close((err) => (err ? reject(err) : resolve())));
    },
  };
}
