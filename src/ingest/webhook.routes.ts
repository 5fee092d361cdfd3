import type { FastifyError, FastifyInstance } from 'fastify';
import type { IngestOutcome, IngestService } from './ingest.service.js';
import { PROVIDER_SLUGS, type ProviderSlug } from './providers/index.js';
import type { WebhookProvider } from './providers/provider.js';

/** The contract's webhook answers, in one place (docs/api.md, "Webhook answers"). */
export function webhookAnswer(o: IngestOutcome): { status: number; body: Record<string, unknown> } {
  switch (o.kind) {
    case 'accepted':
      return { status: 200, body: { accepted: o.accepted, duplicates: o.duplicates, rejected: o.rejected } };
    case 'spooled':
      return { status: 202, body: { spooled: true } };
    case 'auth_failed':
      return { status: 401, body: { error: o.code } };
    case 'invalid_payload':
      return { status: 400, body: { error: 'invalid_payload', message: o.message } };
    case 'replayed':
      return { status: 409, body: { error: 'replayed_token' } };
    case 'not_configured':
      return { status: 503, body: { error: 'provider_not_configured' } };
    case 'unavailable':
      return { status: 503, body: { error: 'unavailable' } };
  }
}

/**
 * POST /webhooks/{prove,vove,passbase}. Thin: the raw body (any content type, as a Buffer, at most
 * `bodyLimit` bytes) and headers go to the ingest service; its outcome is answered as the contract says.
 */
export function registerWebhookRoutes(
  app: FastifyInstance,
  opts: { providers: Record<ProviderSlug, WebhookProvider | null>; ingest: IngestService; bodyLimit: number },
): void {
  void app.register(async (scope) => {
    // Signatures cover the exact bytes: no JSON parsing before verification, whatever the content type.
    scope.removeAllContentTypeParsers();
    // Fastify refuses a Content-Type it cannot parse (empty, "json") before the route runs, which
    // answered an unauthenticated request 400. No signature covers it: every body goes to verification.
    scope.addHook('onRequest', async (req) => {
      req.headers['content-type'] = 'application/octet-stream';
    });
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: opts.bodyLimit }, (_req, body, done) =>
      done(null, body),
    );
    scope.setErrorHandler((err: FastifyError, req, reply) => {
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
        return reply.code(413).send({ error: 'payload_too_large' });
      if (err.statusCode && err.statusCode < 500)
        return reply.code(400).send({ error: 'invalid_payload', message: 'malformed request' });
      req.log.error({ err }, 'webhook handler failed');
      return reply.code(503).send({ error: 'unavailable' });
    });
    for (const slug of PROVIDER_SLUGS) {
      scope.post(`/webhooks/${slug}`, async (req, reply) => {
        const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const { status, body } = webhookAnswer(await opts.ingest(opts.providers[slug], raw, req.headers));
        return reply.code(status).send(body);
      });
    }
  });
}
