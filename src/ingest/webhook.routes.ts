import type { FastifyError, FastifyInstance } from 'fastify';
import { WEBHOOK_ERROR_CODES, type WebhookErrorCode } from '../domain/webhook-codes.js';
import type { IngestOutcome, IngestService } from './ingest.service.js';
import { PROVIDER_SLUGS, type ProviderSlug } from './providers/index.js';
import type { WebhookProvider } from './providers/provider.js';

type Answer = { status: number; body: Record<string, unknown> };

/** A refusal: `{"error": code}` with the status its code is declared with (src/domain/webhook-codes.ts). */
function refusal(code: WebhookErrorCode, extra: Record<string, unknown> = {}): Answer {
  return { status: WEBHOOK_ERROR_CODES[code].status, body: { error: code, ...extra } };
}

/** The contract's webhook answers, in one place (docs/api.md, "Webhook answers"). */
export function webhookAnswer(o: IngestOutcome): Answer {
  switch (o.kind) {
    case 'accepted':
      return { status: 200, body: { accepted: o.accepted, duplicates: o.duplicates, rejected: o.rejected } };
    case 'spooled':
      return { status: 202, body: { spooled: true } };
    case 'auth_failed':
      return refusal(o.code);
    case 'invalid_payload':
      return refusal('invalid_payload', { message: o.message });
    case 'replayed':
      return refusal('replayed_token');
    case 'not_configured':
      return refusal('provider_not_configured');
    case 'unavailable':
      return refusal('unavailable');
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
      const send = ({ status, body }: Answer) => reply.code(status).send(body);
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return send(refusal('payload_too_large'));
      if (err.statusCode && err.statusCode < 500)
        return send(refusal('invalid_payload', { message: 'malformed request' }));
      req.log.error({ err }, 'webhook handler failed');
      return send(refusal('unavailable'));
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
