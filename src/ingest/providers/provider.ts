import type { IncomingHttpHeaders } from 'node:http';
import type { NormalizedEvent, Provider } from '../../domain/types.js';
import type { AuthErrorCode } from '../../domain/webhook-codes.js';

// Declared with every webhook answer in src/domain/webhook-codes.ts; the providers take it from here.
export type { AuthErrorCode };

/** Which key derived from the configured secret verified a delivery (Prove only: see proveProvider). */
export type SigningKey = 'utf8' | 'base64';

/** A delivery whose authenticity is proven; `plaintext` is the body to parse (decrypted for Passbase). */
export interface VerifiedDelivery {
  plaintext: Buffer;
  /** Prove `X-Correlation-ID`, when sent. */
  correlationId: string | null;
  /** Prove token id that must be new, with the time after which it can be forgotten. */
  replayGuard: { jti: string; expiresAt: Date } | null;
  /** Svix message id (VOVE), reused by retries: the event id. */
  messageId: string | null;
  /** Svix timestamp (VOVE): the event's occurredAt. */
  signedAt: Date | null;
  /** The key that verified it, when the secret stands for more than one (Prove); else null. */
  signingKey: SigningKey | null;
}

export type VerifyResult = { ok: true; delivery: VerifiedDelivery } | { ok: false; code: AuthErrorCode };

/** A notification that could not be used; stored raw with the delivery for an operator. */
export interface RejectedItem {
  index: number;
  reason: string;
  raw: unknown;
}

export type ParseResult =
  | {
      ok: true;
      events: NormalizedEvent[];
      rejected: RejectedItem[];
      /** An authentic delivery that carries nothing: a test ping (Prove's "Save and Test Webhook"). */
      test?: boolean;
    }
  | { ok: false; message: string };

/**
 * One identity provider's webhook dialect. The ingest service knows nothing else about a provider.
 * `verify` sees the exact raw bytes before any parsing; `parse` sees only verified plaintext.
 */
export interface WebhookProvider {
  readonly provider: Provider;
  /** Path segment under /webhooks/. */
  readonly slug: 'prove' | 'vove' | 'passbase';
  verify(raw: Buffer, headers: IncomingHttpHeaders, now: Date): Promise<VerifyResult>;
  parse(delivery: VerifiedDelivery): ParseResult;
}
