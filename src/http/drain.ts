import type { FastifyInstance } from 'fastify';

/**
 * Fastify's side of draining. While it closes, fastify answers every response with `Connection: close`;
 * registerDrain decides which requests are still served (fastify's own 503 would refuse webhooks, and
 * not in the contract's words). Idle keep-alive connections are closed at once, busy ones once answered.
 */
export const DRAIN_OPTIONS = { return503OnClosing: false, forceCloseConnections: 'idle' } as const;

/**
 * Once `begin` is called, a webhook that reaches us on a connection still open is verified and committed
 * as ever (PostgreSQL is closed only once in-flight requests are done): Prove never retries, so refusing
 * it would lose it. Anything else is answered 503, as the contract words it, and the client goes elsewhere.
 */
export function registerDrain(app: FastifyInstance): { begin(): void } {
  let draining = false;
  app.addHook('onRequest', async (req, reply) => {
    if (draining && !req.url.startsWith('/webhooks/')) return reply.code(503).send({ error: 'unavailable' });
  });
  return {
    begin() {
      draining = true;
    },
  };
}
