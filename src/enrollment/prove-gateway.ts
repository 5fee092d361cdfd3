/**
 * Prove's Identity Manager as enrollment uses it, the one provider enrollment calls (PASSBASE and VOVE
 * identities arrive with their id and are only stored). Implemented by the HTTP client (prove-client.ts)
 * and by the local sandbox that stands in for Prove without credentials (sandbox-gateway.ts).
 */
import type { EnrollErrorCode } from '../domain/error-codes.js';

export interface ProveEnrollRequest {
  /** E.164, e.g. +12001004031 (the service validates it: US numbers only). */
  phoneNumber: string;
  clientCustomerId: string | null;
}

/** One batch item's outcome: Prove refused the number (INVALID_PHONE_NUMBER) or failed otherwise. */
export type ProveBatchItemResult =
  | { ok: true; proveId: string }
  | {
      ok: false;
      code: Extract<EnrollErrorCode, 'INVALID_PHONE_NUMBER' | 'PROVIDER_UNAVAILABLE'>;
      message: string;
    };

/** The Identity Manager calls, by Prove's id of an identity (its proveId). */
export interface ProveGateway {
  readonly mode: 'prove' | 'sandbox';
  enroll(req: ProveEnrollRequest): Promise<{ proveId: string }>;
  /** Same length and order as `items`; one refused item does not fail the others. */
  batchEnroll(items: ProveEnrollRequest[]): Promise<ProveBatchItemResult[]>;
  deactivate(proveId: string): Promise<void>;
  activate(proveId: string): Promise<void>;
}

export interface ProviderUnavailableDetails {
  /** Prove's HTTP status, when it answered at all. */
  status?: number;
  /** Prove's own error `code`, when its answer carried one. */
  providerCode?: string;
  cause?: unknown;
}

/**
 * The provider failed, refused, or answered something unusable. The message is safe to show to
 * an admin: it never includes the client secret or an access token (the API maps this error to
 * `PROVIDER_UNAVAILABLE`).
 */
export class ProviderUnavailableError extends Error {
  readonly code = 'PROVIDER_UNAVAILABLE' as const;
  readonly status: number | undefined;
  readonly providerCode: string | undefined;

  constructor(message: string, details: ProviderUnavailableDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ProviderUnavailableError';
    this.status = details.status;
    this.providerCode = details.providerCode;
  }
}

/** A failure's Prove status and code as log fields: the logger keeps only an error's own type, message and code. */
export function providerDetails(err: ProviderUnavailableError): {
  providerStatus?: number;
  providerCode?: string;
} {
  return {
    ...(err.status === undefined ? {} : { providerStatus: err.status }),
    ...(err.providerCode === undefined ? {} : { providerCode: err.providerCode }),
  };
}
