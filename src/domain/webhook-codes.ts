/**
 * The webhook endpoints' vocabulary, declared once: every `{"error": code}` they answer, with its HTTP
 * status (docs/api.md, "Webhook answers"; test/unit/vocabularies.test.ts compares the two), and what
 * the `outcome` column of webhook_deliveries holds. In the domain because ingest writes outcomes and
 * the data layer and GraphQL read them.
 */
export const WEBHOOK_ERROR_CODES = {
  missing_signature: {
    status: 401,
    recorded: true,
    meaning:
      'no signature header (Prove: no Bearer token in X-Prove-Authorization; VOVE: a Svix header missing)',
  },
  invalid_signature: {
    status: 401,
    recorded: true,
    meaning:
      'the signature or token does not verify, is malformed, uses another algorithm, or lacks a required claim',
  },
  token_expired: { status: 401, recorded: true, meaning: 'Prove token past exp (plus 60 s skew)' },
  token_not_yet_valid: {
    status: 401,
    recorded: true,
    meaning: 'Prove token nbf or iat more than 60 s in the future',
  },
  invalid_issuer: { status: 401, recorded: true, meaning: 'Prove token iss missing or not Prove Identity' },
  body_hash_mismatch: {
    status: 401,
    recorded: true,
    meaning: 'Prove token body_hash is not the SHA-256 of the body received',
  },
  timestamp_out_of_tolerance: {
    status: 401,
    recorded: true,
    meaning: "VOVE Svix timestamp more than 5 minutes from the server's clock",
  },
  decryption_failed: {
    status: 401,
    recorded: true,
    meaning: 'Passbase body could not be decrypted into JSON',
  },
  invalid_payload: {
    status: 400,
    recorded: true,
    meaning: 'authentic but unusable as a whole (also a malformed HTTP request, which is not recorded)',
  },
  replayed_token: { status: 409, recorded: true, meaning: 'a Prove token whose jti was already accepted' },
  // Refused before the ingest service sees the delivery, or with nowhere to record it: only counted.
  payload_too_large: { status: 413, recorded: false, meaning: 'body over 1 MiB' },
  provider_not_configured: { status: 503, recorded: false, meaning: "that provider's secret is not set" },
  unavailable: {
    status: 503,
    recorded: false,
    meaning: 'neither PostgreSQL nor the spool could take the delivery',
  },
} as const satisfies Record<string, { status: number; recorded: boolean; meaning: string }>;

export type WebhookErrorCode = keyof typeof WEBHOOK_ERROR_CODES;

/** The codes whose entry matches `P`, e.g. every 401. */
type CodesWhere<P> = {
  [K in WebhookErrorCode]: (typeof WEBHOOK_ERROR_CODES)[K] extends P ? K : never;
}[WebhookErrorCode];

/** Why a delivery failed authentication: answered 401 with `{"error": code}`. */
export type AuthErrorCode = CodesWhere<{ status: 401 }>;

/** A refused delivery's outcome: the code it was answered with, for the codes whose refusals are recorded. */
export type RefusedOutcome = CodesWhere<{ recorded: true }>;

/** The codes in declaration order (the order docs/api.md lists them in). */
export const WEBHOOK_ERROR_CODE_LIST = Object.keys(WEBHOOK_ERROR_CODES) as readonly WebhookErrorCode[];

export const AUTH_ERROR_CODES: readonly AuthErrorCode[] = WEBHOOK_ERROR_CODE_LIST.filter(
  (c): c is AuthErrorCode => WEBHOOK_ERROR_CODES[c].status === 401,
);

/** How a stored delivery is recorded: committed directly, loaded from the spool, or a test ping. */
export const STORED_OUTCOMES = ['accepted', 'spooled', 'test'] as const;
export type StoredOutcome = (typeof STORED_OUTCOMES)[number];

/** Every value of webhook_deliveries.outcome: a stored delivery's, or a recorded refusal's code. */
export type DeliveryOutcome = StoredOutcome | RefusedOutcome;

export const DELIVERY_OUTCOMES: readonly DeliveryOutcome[] = [
  ...STORED_OUTCOMES,
  ...WEBHOOK_ERROR_CODE_LIST.filter((c): c is RefusedOutcome => WEBHOOK_ERROR_CODES[c].recorded),
];

export function isDeliveryOutcome(value: string): value is DeliveryOutcome {
  return (DELIVERY_OUTCOMES as readonly string[]).includes(value);
}
