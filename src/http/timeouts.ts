/**
 * How long a client may take before its HTTP connection is closed: one place for every limit,
 * stated in the README. Node's defaults (headers 60 s, request 300 s, checked every 30 s) let a
 * client trickling a webhook body one byte a second hold a socket for minutes.
 */
import type { ServerOptions } from 'node:http';

/** Headers (at most 16 KiB, one packet for any real client) must be complete this soon after the request starts: else 408. */
export const HEADERS_TIMEOUT_MS = 10_000;
/**
 * The whole request, headers and body, must have arrived this soon after it starts: else 408.
 * A 1 MiB webhook (the body limit) fits at 0.6 Mbit/s; a body trickled one byte a second never does.
 */
export const REQUEST_TIMEOUT_MS = 15_000;
/** How often Node looks for connections past the two limits above (its default, 30 s, would add up to 30 s). */
export const TIMEOUT_CHECK_INTERVAL_MS = 1_000;
/**
 * An idle keep-alive connection is closed after this (Node's default; fastify's 72 s suits only a
 * load balancer that keeps its own idle connections longer, and lets idle sockets pile up).
 * Node closes the socket one second later than it advertises, so a client reusing it on time never races the close.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/**
 * A connection on which no byte moves either way for this long is cut (a client that stops reading
 * its answer, which the request timeout does not see). Longer than any handler may be silent:
 * a webhook commit is spooled after 10 s (COMMIT_DEADLINE_MS).
 */
export const SOCKET_IDLE_TIMEOUT_MS = 30_000;
/**
 * Concurrent sockets per replica (HTTP and WebSocket): a new one past this is closed at once, so a
 * flood of sockets cannot take the file descriptors PostgreSQL connections and the spool need.
 */
export const MAX_CONNECTIONS = 10_000;

/**
 * Connections the kernel queues for accept (Node's default 511; Linux caps it at net.core.somaxconn).
 * Past it a connect waits a 1 s SYN retry: with 511, a burst of a few thousand (partners reconnecting
 * after a deploy, or a flood) cost healthy clients seconds.
 */
export const LISTEN_BACKLOG = 4096;

/** Fastify's own options for the limits above (it sets them on the server it creates). */
export const FASTIFY_TIMEOUTS = {
  connectionTimeout: SOCKET_IDLE_TIMEOUT_MS,
  keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
  requestTimeout: REQUEST_TIMEOUT_MS,
  // Node's options fastify has no name for; requestTimeout again, as Node checks headers ≤ request here.
  http: {
    headersTimeout: HEADERS_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
  } satisfies ServerOptions,
} as const;
