/**
 * VOVE ID verification status webhooks, signed with Svix (Standard Webhooks).
 * Wire format: VOVE ID's Webhooks guide; docs/api.md, VOVE ID.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Webhook, WebhookVerificationError } from 'svix';
import {
  describeType,
  type Field,
  isRecord,
  parseJsonBody,
  quoteValue,
  readRequiredString,
  singleHeader,
} from './json.js';
import type {
  AuthErrorCode,
  ParseResult,
  VerifiedDelivery,
  VerifyResult,
  WebhookProvider,
} from './provider.js';

/** Svix's own tolerance, applied here against the caller's clock (see verifyVoveDelivery). */
export const VOVE_TIMESTAMP_TOLERANCE_SECONDS = 5 * 60;

export const VOVE_STATUSES = ['in_progress', 'pending', 'successful', 'suspected'] as const;
export type VoveStatus = (typeof VOVE_STATUSES)[number];

const MAX_ID_LENGTH = 200;

interface SvixHeaders {
  id: string;
  timestamp: string;
  signature: string;
}

export function voveProvider(opts: { secret: string }): WebhookProvider {
  let webhook: Webhook;
  try {
    webhook = new Webhook(opts.secret);
  } catch {
    // The library's message may quote the secret's decoding problem; keep the secret out of logs.
    throw new Error('VOVE webhook secret must be "whsec_" followed by base64');
  }
  return {
    provider: 'VOVE',
    slug: 'vove',
    verify: async (raw, headers, now) => verifyVoveDelivery(webhook, raw, headers, now),
    parse: parseVoveDelivery,
  };
}

/** svix-* headers, or the unbranded Standard Webhooks webhook-* ones; each header is looked up on its own. */
function readSvixHeaders(headers: IncomingHttpHeaders): SvixHeaders | null {
  const id = singleHeader(headers, 'svix-id') ?? singleHeader(headers, 'webhook-id');
  const timestamp = singleHeader(headers, 'svix-timestamp') ?? singleHeader(headers, 'webhook-timestamp');
  const signature = singleHeader(headers, 'svix-signature') ?? singleHeader(headers, 'webhook-signature');
  if (!id || !timestamp || !signature) return null;
  return { id, timestamp, signature };
}

function fail(code: AuthErrorCode): VerifyResult {
  return { ok: false, code };
}

/**
 * The svix library checks the timestamp against Date.now() and cannot be given another clock, so the
 * tolerance is checked here first against `now` (which makes it testable and gives it its own error
 * code), then the library verifies the signatures. In the server `now` is the current time, so the
 * library's own clock check agrees with ours; it only matters if the clocks drift apart mid-request.
 */
function verifyVoveDelivery(
  webhook: Webhook,
  raw: Buffer,
  headers: IncomingHttpHeaders,
  now: Date,
): VerifyResult {
  const svix = readSvixHeaders(headers);
  if (svix === null) return fail('missing_signature');
  // The library's parseInt would read "1719870957abc" as a timestamp; a malformed header is refused.
  if (!/^\d{1,12}$/.test(svix.timestamp) || svix.id.length > MAX_ID_LENGTH) return fail('invalid_signature');
  const signedAtSeconds = Number(svix.timestamp);
  if (Math.abs(Math.floor(now.getTime() / 1000) - signedAtSeconds) > VOVE_TIMESTAMP_TOLERANCE_SECONDS) {
    return fail('timestamp_out_of_tolerance');
  }

  const failure = svixFailure(webhook, raw, svix);
  if (failure !== null) return fail(failure);
  return {
    ok: true,
    delivery: {
      plaintext: raw,
      correlationId: null,
      replayGuard: null,
      messageId: svix.id,
      signedAt: new Date(signedAtSeconds * 1000),
      signingKey: null,
    },
  };
}

/** Runs the library's check (any one of several space-separated `v1,<base64>` signatures may match). */
function svixFailure(webhook: Webhook, raw: Buffer, svix: SvixHeaders): AuthErrorCode | null {
  try {
    webhook.verify(raw, {
      'svix-id': svix.id,
      'svix-timestamp': svix.timestamp,
      'svix-signature': svix.signature,
    });
    return null;
  } catch (error) {
    if (error instanceof WebhookVerificationError) {
      return /timestamp too (old|new)/i.test(error.message)
        ? 'timestamp_out_of_tolerance'
        : 'invalid_signature';
    }
    // After a signature matches, verify() returns JSON.parse(body): a SyntaxError therefore means an
    // authentic body that is not JSON, which parse() answers with 400 invalid_payload.
    return error instanceof SyntaxError ? null : 'invalid_signature';
  }
}

function parseVoveDelivery(delivery: VerifiedDelivery): ParseResult {
  if (delivery.messageId === null || delivery.signedAt === null) {
    return { ok: false, message: 'delivery has no Svix message id or timestamp' };
  }
  const body = parseJsonBody(delivery.plaintext);
  if (!body.ok) return { ok: false, message: body.message };
  if (!isRecord(body.value)) {
    return { ok: false, message: `body must be a JSON object, got ${describeType(body.value)}` };
  }
  const status = readStatus(body.value.status);
  if (!status.ok) return { ok: false, message: status.reason };
  // refId replaces the deprecated userId (VOVE ID's Webhooks guide), which older senders still use alone.
  const refId = readRequiredString(body.value, ['refId', 'userId'], MAX_ID_LENGTH);
  if (!refId.ok) return { ok: false, message: refId.reason };

  return {
    ok: true,
    rejected: [],
    events: [
      {
        provider: 'VOVE',
        // Svix retries reuse the message id, so it is the idempotency key.
        providerEventId: delivery.messageId,
        providerIdentityId: refId.value,
        clientCustomerId: null,
        type: 'VERIFICATION_STATUS_CHANGED',
        rawType: status.value,
        description: null,
        occurredAt: delivery.signedAt,
        newCarrier: null,
        newLineType: null,
        verificationStatus: status.value,
      },
    ],
  };
}

function readStatus(value: unknown): Field<VoveStatus> {
  const known = VOVE_STATUSES.find((status) => status === value);
  if (known !== undefined) return { ok: true, value: known };
  if (value === undefined || value === null) return { ok: false, reason: 'status is missing' };
  const got = typeof value === 'string' ? quoteValue(value) : describeType(value);
  return { ok: false, reason: `status must be one of ${VOVE_STATUSES.join(', ')}, got ${got}` };
}
