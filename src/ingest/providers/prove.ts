/**
 * Prove Identity Manager / Verified Users / Manage change notifications.
 * Wire format: Prove's "Receive Prove Manage webhooks" guide (JWT checks) and its Identity Manager
 * and Verified Users implementation guides (payload spellings); docs/api.md, Prove.
 */
import { createHash, timingSafeEqual, type webcrypto } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { errors, type JWTPayload, jwtVerify } from 'jose';
import { hmacVerifyKey } from '../../auth/tokens.js';
import { storableText } from '../../domain/text.js';
import type { EventType, NormalizedEvent } from '../../domain/types.js';
import {
  describeType,
  type Field,
  isBase64,
  isRecord,
  isStorableInstant,
  type JsonRecord,
  parseJsonBody,
  quoteValue,
  readOptionalString,
  readRequiredString,
  singleHeader,
} from './json.js';
import type {
  AuthErrorCode,
  ParseResult,
  RejectedItem,
  SigningKey,
  VerifiedDelivery,
  VerifyResult,
  WebhookProvider,
} from './provider.js';

export const PROVE_ISSUER = 'Prove Identity';
/** "allowing about ±60 seconds clock skew" (Prove's Manage webhooks guide, step 5). */
export const PROVE_CLOCK_SKEW_SECONDS = 60;
/** "Prove may send up to 100 objects per call". */
export const PROVE_MAX_NOTIFICATIONS = 100;

const MAX_ID_LENGTH = 200;
const MAX_TEXT_LENGTH = 1000;
const MAX_CORRELATION_ID_LENGTH = 200;

/** Every event type the docs list; LINETYPE_CHANGE is the spelling of the Identity Manager guide's sample. */
const EVENT_TYPE_BY_RAW: ReadonlyMap<string, EventType> = new Map<string, EventType>([
  ['PHONE_NUMBER_CHANGE', 'PHONE_NUMBER_CHANGE'],
  ['DISCONNECT', 'DISCONNECT'],
  ['PORT', 'PORT'],
  ['LINE_TYPE_CHANGE', 'LINE_TYPE_CHANGE'],
  ['LINETYPE_CHANGE', 'LINE_TYPE_CHANGE'],
  ['MOVED_OUT_OF_COVERAGE', 'MOVED_OUT_OF_COVERAGE'],
]);

// The docs spell the same field several ways across the three pages; the first present wins.
const EVENT_ID_FIELDS = ['eventId', 'eventID'] as const;
const IDENTITY_ID_FIELDS = ['identityId', 'identityID', 'proveId'] as const;
const TIMESTAMP_FIELDS = ['eventTimestamp', 'eventTimeStamp'] as const;

const WHSEC_PREFIX = 'whsec_';
/** Svix-style secrets carry 24 random bytes; fewer than 16 is not a key anyone generates. */
const MIN_DECODED_KEY_BYTES = 16;

interface VerifyKey {
  name: SigningKey;
  key: Promise<webcrypto.CryptoKey>;
}

/**
 * The HS256 keys one Portal secret can stand for, in the order they are tried. Prove's snippets hand
 * the string itself to their JWT library (the UTF-8 bytes, `whsec_` included), but a `whsec_` secret
 * is Svix-style base64 after the prefix, and the docs do not say which Prove signs with: both are the
 * owner's secret, so a token under either is authentic.
 */
export function proveSigningKeys(secret: string): { name: SigningKey; bytes: Uint8Array }[] {
  const keys: { name: SigningKey; bytes: Uint8Array }[] = [
    { name: 'utf8', bytes: new TextEncoder().encode(secret) },
  ];
  const rest = secret.slice(WHSEC_PREFIX.length);
  if (secret.startsWith(WHSEC_PREFIX) && isBase64(rest)) {
    const decoded = Buffer.from(rest, 'base64');
    if (decoded.length >= MIN_DECODED_KEY_BYTES) keys.push({ name: 'base64', bytes: decoded });
  }
  return keys;
}

export function proveProvider(opts: { secret: string }): WebhookProvider {
  if (opts.secret.length === 0) throw new Error('Prove webhook secret must not be empty');
  const keys: VerifyKey[] = proveSigningKeys(opts.secret).map(({ name, bytes }) => ({
    name,
    key: hmacVerifyKey(bytes),
  }));
  return {
    provider: 'PROVE',
    slug: 'prove',
    verify: (raw, headers, now) => verifyProveDelivery(keys, raw, headers, now),
    parse: parseProveDelivery,
  };
}

function fail(code: AuthErrorCode): VerifyResult {
  return { ok: false, code };
}

type TokenResult = { ok: true; claims: JWTPayload; key: SigningKey } | { ok: false; code: AuthErrorCode };

/**
 * Verifies the token under each key in turn. Only a signature that does not match moves on to the next
 * key: any other failure (a malformed token, another algorithm, a claim checked once the signature
 * matched) would be the same under every key. A forgery is therefore verified twice; each try is one
 * HMAC, and which key failed tells a forger nothing about either.
 */
async function verifyToken(keys: readonly VerifyKey[], token: string, now: Date): Promise<TokenResult> {
  for (const { name, key } of keys) {
    try {
      const { payload } = await jwtVerify(token, await key, {
        algorithms: ['HS256'],
        issuer: PROVE_ISSUER,
        clockTolerance: PROVE_CLOCK_SKEW_SECONDS,
        requiredClaims: ['exp', 'iat', 'jti', 'body_hash'],
        currentDate: now,
      });
      return { ok: true, claims: payload, key: name };
    } catch (error) {
      if (!(error instanceof errors.JWSSignatureVerificationFailed)) {
        return { ok: false, code: joseFailureCode(error) };
      }
    }
  }
  return { ok: false, code: 'invalid_signature' };
}

async function verifyProveDelivery(
  keys: readonly VerifyKey[],
  raw: Buffer,
  headers: IncomingHttpHeaders,
  now: Date,
): Promise<VerifyResult> {
  const token = bearerToken(singleHeader(headers, 'x-prove-authorization'));
  if (token === null) return fail('missing_signature');

  const verified = await verifyToken(keys, token, now);
  if (!verified.ok) return fail(verified.code);

  const { exp, iat, jti, body_hash: bodyHash } = verified.claims;
  // jose has checked exp/iat are numbers when present and that all four are present; the typeof
  // checks narrow the types and catch a jti or body_hash of the wrong type.
  if (typeof exp !== 'number' || typeof iat !== 'number') return fail('invalid_signature');
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_ID_LENGTH)
    return fail('invalid_signature');
  if (typeof bodyHash !== 'string') return fail('invalid_signature');
  // jose only checks iat against the clock when maxTokenAge is set, which we do not want (exp bounds
  // the lifetime); an iat in the future beyond the skew means the token is not valid yet.
  if (iat > Math.floor(now.getTime() / 1000) + PROVE_CLOCK_SKEW_SECONDS) return fail('token_not_yet_valid');
  if (!bodyHashMatches(bodyHash, raw)) return fail('body_hash_mismatch');
  // The token is accepted until exp + skew, so its jti must be remembered at least that long.
  const expiresAt = new Date((exp + PROVE_CLOCK_SKEW_SECONDS) * 1000);
  // An exp beyond what PostgreSQL stores (year 9999; a Date holds more) could not be the replay deadline.
  if (!isStorableInstant(expiresAt)) return fail('invalid_signature');

  return {
    ok: true,
    delivery: {
      plaintext: raw,
      correlationId: correlationId(headers),
      replayGuard: { jti: storableText(jti), expiresAt },
      messageId: null,
      signedAt: null,
      signingKey: verified.key,
    },
  };
}

/** The token of `Bearer <jwt>` (scheme case-insensitive), or null when the header is absent or another scheme. */
function bearerToken(header: string | undefined): string | null {
  const match = header === undefined ? null : /^\s*bearer(?:\s+(.*))?$/is.exec(header);
  const token = match?.[1]?.trim() ?? '';
  return token.length > 0 ? token : null;
}

function joseFailureCode(error: unknown): AuthErrorCode {
  if (error instanceof errors.JWTExpired) return 'token_expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'iss') return 'invalid_issuer';
    if (error.claim === 'nbf' && error.reason === 'check_failed') return 'token_not_yet_valid';
  }
  // Bad signature, alg none or any other alg, malformed token, missing exp/iat/jti/body_hash,
  // claims of the wrong type: all mean "this token does not prove the delivery came from Prove".
  return 'invalid_signature';
}

/** Constant-time comparison with the lowercase hex SHA-256 of the raw body bytes. */
function bodyHashMatches(claimed: string, raw: Buffer): boolean {
  const expected = Buffer.from(createHash('sha256').update(raw).digest('hex'), 'utf8');
  const actual = Buffer.from(claimed, 'utf8');
  // timingSafeEqual needs equal lengths; the expected length is public (64), so checking it leaks nothing.
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** X-Correlation-ID, trimmed, without control characters, capped: it is logged and stored. */
function correlationId(headers: IncomingHttpHeaders): string | null {
  const header = singleHeader(headers, 'x-correlation-id');
  if (header === undefined) return null;
  const printable = Array.from(header)
    .filter((char) => {
      const code = char.charCodeAt(0);
      return code >= 0x20 && code !== 0x7f;
    })
    .join('')
    .trim()
    .slice(0, MAX_CORRELATION_ID_LENGTH);
  return printable.length > 0 ? printable : null;
}

function parseProveDelivery(delivery: VerifiedDelivery): ParseResult {
  const body = parseJsonBody(delivery.plaintext);
  if (!body.ok) return { ok: false, message: body.message };
  if (!isRecord(body.value)) {
    return {
      ok: false,
      message: `body must be a JSON object with a notifications array, got ${describeType(body.value)}`,
    };
  }
  const notifications = body.value.notifications;
  if (!Array.isArray(notifications)) {
    const got = notifications === undefined ? 'no notifications field' : describeType(notifications);
    return {
      ok: false,
      message: `notifications must be an array of at most ${PROVE_MAX_NOTIFICATIONS} items, got ${got}`,
    };
  }
  if (notifications.length > PROVE_MAX_NOTIFICATIONS) {
    return {
      ok: false,
      message: `notifications must be an array of at most ${PROVE_MAX_NOTIFICATIONS} items, got ${notifications.length}`,
    };
  }
  // The Portal's "Save and Test Webhook" body is undocumented; an authentic empty list can only be it.
  if (notifications.length === 0) return { ok: true, events: [], rejected: [], test: true };

  const events: NormalizedEvent[] = [];
  const rejected: RejectedItem[] = [];
  notifications.forEach((raw: unknown, index) => {
    const result = toEvent(raw);
    if (result.ok) events.push(result.value);
    else rejected.push({ index, reason: result.reason, raw });
  });
  return { ok: true, events, rejected };
}

/** One notification; any problem rejects this item only, with a reason an operator can act on. */
function toEvent(item: unknown): Field<NormalizedEvent> {
  if (!isRecord(item))
    return { ok: false, reason: `notification must be a JSON object, got ${describeType(item)}` };

  const eventId = readRequiredString(item, EVENT_ID_FIELDS, MAX_ID_LENGTH);
  if (!eventId.ok) return eventId;
  const identityId = readRequiredString(item, IDENTITY_ID_FIELDS, MAX_ID_LENGTH);
  if (!identityId.ok) return identityId;
  const eventType = readRequiredString(item, ['eventType'], MAX_ID_LENGTH);
  if (!eventType.ok) return eventType;
  const occurredAt = readTimestamp(item);
  if (!occurredAt.ok) return occurredAt;
  const optional = readOptionalFields(item);
  if (!optional.ok) return optional;

  return {
    ok: true,
    value: {
      provider: 'PROVE',
      providerEventId: eventId.value,
      providerIdentityId: identityId.value,
      // An event type Prove adds later is kept as UNKNOWN with its raw value, never dropped.
      type: EVENT_TYPE_BY_RAW.get(eventType.value) ?? 'UNKNOWN',
      rawType: eventType.value,
      occurredAt: occurredAt.value,
      verificationStatus: null,
      ...optional.value,
    },
  };
}

type OptionalFields = Pick<
  NormalizedEvent,
  'clientCustomerId' | 'description' | 'newCarrier' | 'newLineType'
>;

/** Fields only some event types carry (newCarrier for PORT, newLineType for LINE_TYPE_CHANGE...). */
function readOptionalFields(item: JsonRecord): Field<OptionalFields> {
  const clientCustomerId = readOptionalString(item, ['clientCustomerId'], MAX_ID_LENGTH);
  if (!clientCustomerId.ok) return clientCustomerId;
  const description = readOptionalString(item, ['event'], MAX_TEXT_LENGTH);
  if (!description.ok) return description;
  const newCarrier = readOptionalString(item, ['newCarrier'], MAX_ID_LENGTH);
  if (!newCarrier.ok) return newCarrier;
  const newLineType = readOptionalString(item, ['newLineType'], MAX_ID_LENGTH);
  if (!newLineType.ok) return newLineType;
  return {
    ok: true,
    value: {
      clientCustomerId: clientCustomerId.value,
      description: description.value,
      newCarrier: newCarrier.value,
      newLineType: newLineType.value,
    },
  };
}

function readTimestamp(item: JsonRecord): Field<Date> {
  const field = readRequiredString(item, TIMESTAMP_FIELDS, 64);
  if (!field.ok) return field;
  const date = parseIsoDateTime(field.value);
  if (date === null) {
    return {
      ok: false,
      reason: `${TIMESTAMP_FIELDS.join(' / ')} must be an ISO 8601 date-time with a time zone, got ${quoteValue(field.value)}`,
    };
  }
  if (!isStorableInstant(date)) {
    return {
      ok: false,
      reason: `${TIMESTAMP_FIELDS.join(' / ')} must be between 0001-01-01 and 9999-12-31 (UTC), got ${quoteValue(field.value)}`,
    };
  }
  return { ok: true, value: date };
}

// A date-time with optional seconds and fraction and a required offset: without an offset the instant
// would depend on the server's time zone. Date.parse alone is too lenient: it reads 2025-02-30 as March 2.
const ISO_DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):?(\d{2}))$/;

/** A strict ISO 8601 date-time such as "2025-01-23T10:11:12Z" or "2025-01-23T05:11:12.5-05:00", else null. */
export function parseIsoDateTime(text: string): Date | null {
  const match = ISO_DATE_TIME.exec(text);
  if (match === null) return null;
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, offsetHours = 0, offsetMinutes = 0] =
    match.slice(1).map((part) => (part === undefined ? 0 : Number(part)));
  const lastOfMonth = new Date(0);
  lastOfMonth.setUTCFullYear(year, month, 0); // not Date.UTC, which maps years 0-99 to 1900-1999
  const daysInMonth = lastOfMonth.getUTCDate();
  const inRange =
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    offsetHours <= 23 &&
    offsetMinutes <= 59;
  if (!inRange) return null;
  // "+0100" → "+01:00" and a fraction cut to milliseconds: the forms Date.parse is specified to read.
  const millis = Date.parse(text.replace(/([+-]\d{2})(\d{2})$/, '$1:$2').replace(/(\.\d{3})\d+/, '$1'));
  return Number.isNaN(millis) ? null : new Date(millis);
}
