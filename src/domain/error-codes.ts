/**
 * Every `extensions.code` this API answers with, and what each means: the one list the GraphQL layer
 * (its ErrorCode type, the codes maskErrors lets through) and enrollment (its refusals) take theirs from.
 * docs/api.md ("Error codes") lists the same codes; test/unit/vocabularies.test.ts compares the two.
 * Apollo's own codes for malformed requests are Apollo's, listed in src/graphql/errors.ts.
 */
export const ERROR_CODES = {
  UNAUTHENTICATED: {
    meaning:
      'no token where one is needed, or an invalid one; over HTTP a token that fails verification fails the whole request with HTTP 401',
  },
  FORBIDDEN: { meaning: 'a valid token without the scope the field needs (the message names it)' },
  BAD_USER_INPUT: {
    meaning:
      'invalid arguments: malformed id or cursor, first below 1, empty filter list, a required enrollment field missing or malformed, duplicate items in one batch',
  },
  NOT_FOUND: { meaning: 'deactivating or reactivating an identity that does not exist' },
  ALREADY_ENROLLED: {
    meaning:
      'an ACTIVE or DEACTIVATED identity with that provider and clientCustomerId (or providerIdentityId) exists; existingIdentityId names it',
  },
  INVALID_PHONE_NUMBER: { meaning: 'the phone number is not a US number (or Prove refused it)' },
  MONITORING_ENDED: {
    meaning:
      'the identity is ENDED: it cannot be deactivated, reactivated, or enrolled again under the same providerIdentityId; existingIdentityId names it',
  },
  BATCH_TOO_LARGE: { meaning: 'more than 100 items in batchEnrollIdentities' },
  PROVIDER_UNAVAILABLE: { meaning: 'Prove failed, timed out or refused; nothing was changed' },
  TOO_MANY_SUBSCRIPTIONS: {
    meaning: 'a subscription beyond the 100 one WebSocket may carry; the socket stays open',
  },
  INTERNAL_SERVER_ERROR: {
    meaning: 'anything unexpected; the details are logged with the request id, never answered',
  },
} as const satisfies Record<string, { meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The codes in declaration order (the order docs/api.md lists them in). */
export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as readonly ErrorCode[];

/** What one enrollment can fail with, alone or as an item of a batch (`EnrollError.code`, a GraphQL enum). */
export const ENROLL_ERROR_CODES = [
  'BAD_USER_INPUT',
  'INVALID_PHONE_NUMBER',
  'ALREADY_ENROLLED',
  'MONITORING_ENDED',
  'PROVIDER_UNAVAILABLE',
] as const satisfies readonly ErrorCode[];

export type EnrollErrorCode = (typeof ENROLL_ERROR_CODES)[number];

/** What an enrollment mutation can fail with as a whole: an item's codes, an unknown identity, a batch too large. */
export type EnrollmentErrorCode = EnrollErrorCode | Extract<ErrorCode, 'NOT_FOUND' | 'BATCH_TOO_LARGE'>;
