/**
 * Passbase verification webhooks: base64(IV || AES-256-CBC ciphertext) under the 32-byte webhook secret.
 * Wire format: Passbase's webhooks documentation (encryption, events, fields); docs/api.md, Passbase.
 */
import { createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import type { EventType, NormalizedEvent } from '../../domain/types.js';
import {
  decodeUtf8Strict,
  describeType,
  type Field,
  isBase64,
  isRecord,
  type JsonRecord,
  parseJsonBody,
  quoteValue,
} from './json.js';
import type { ParseResult, VerifiedDelivery, VerifyResult, WebhookProvider } from './provider.js';

export const PASSBASE_KEY_BYTES = 32;
const IV_BYTES = 16;

export const PASSBASE_EVENTS = [
  'VERIFICATION_COMPLETED',
  'VERIFICATION_REVIEWED',
] as const satisfies readonly EventType[];
export const PASSBASE_STATUSES = ['pending', 'approved', 'declined'] as const;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** 9999-12-31T23:59:59Z: later unix times cannot be written as the ISO 8601 DateTime of the API. */
const MAX_UNIX_SECONDS = 253_402_300_799;

/** The one answer to every decryption problem, so no failure class can be told from another. */
const DECRYPTION_FAILED: VerifyResult = Object.freeze({ ok: false, code: 'decryption_failed' });

export function passbaseProvider(opts: { key: Buffer; allowUnencrypted: boolean }): WebhookProvider {
  if (opts.key.length !== PASSBASE_KEY_BYTES) {
    throw new Error(`Passbase webhook key must be ${PASSBASE_KEY_BYTES} bytes, got ${opts.key.length}`);
  }
  // A KeyObject holds its own copy, so a caller reusing or zeroing its Buffer cannot change the key.
  const key = createSecretKey(Buffer.from(opts.key));
  return {
    provider: 'PASSBASE',
    slug: 'passbase',
    verify: async (raw) => verifyPassbaseDelivery(key, opts.allowUnencrypted, raw),
    parse: parsePassbaseDelivery,
  };
}

function verifyPassbaseDelivery(key: KeyObject, allowUnencrypted: boolean, raw: Buffer): VerifyResult {
  // Unencrypted deliveries carry no authentication at all: accepted only when the operator opted in.
  if (allowUnencrypted && startsWithBrace(raw)) return verified(raw);
  // One try/catch for base64, IV, length, padding, UTF-8 and JSON errors alike, all answered with the
  // same frozen value: a distinguishable padding error would make this endpoint a padding oracle.
  try {
    const plaintext = decrypt(key, raw);
    JSON.parse(decodeUtf8Strict(plaintext));
    return verified(plaintext);
  } catch {
    return DECRYPTION_FAILED;
  }
}

/** Throws on any problem; the caller maps every throw to the same answer. */
function decrypt(key: KeyObject, raw: Buffer): Buffer {
  // latin1 maps each byte to one character, so non-ASCII bytes fail the alphabet test. Whitespace is
  // dropped: line-wrapped base64 (Ruby's Base64.encode64, for one) is still base64.
  const text = raw.toString('latin1').replace(/\s+/g, '');
  if (!isBase64(text)) throw new Error('body is not base64');
  const bytes = Buffer.from(text, 'base64');
  // A short IV, a ciphertext that is not whole blocks and bad padding all throw inside node:crypto.
  const decipher = createDecipheriv('aes-256-cbc', key, bytes.subarray(0, IV_BYTES));
  return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES)), decipher.final()]);
}

/** First non-whitespace byte is "{": a plain JSON body. Base64 never contains "{". */
function startsWithBrace(raw: Buffer): boolean {
  const first = raw.findIndex((byte) => byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d);
  return first !== -1 && raw[first] === 0x7b;
}

function verified(plaintext: Buffer): VerifyResult {
  return {
    ok: true,
    delivery: {
      plaintext,
      correlationId: null,
      replayGuard: null,
      messageId: null,
      signedAt: null,
      signingKey: null,
    },
  };
}

function parsePassbaseDelivery(delivery: VerifiedDelivery): ParseResult {
  const body = parseJsonBody(delivery.plaintext);
  if (!body.ok) return { ok: false, message: body.message };
  const event = toEvent(body.value);
  if (!event.ok) return { ok: false, message: event.reason };
  return { ok: true, events: [event.value], rejected: [] };
}

function toEvent(value: unknown): Field<NormalizedEvent> {
  if (!isRecord(value))
    return { ok: false, reason: `body must be a JSON object, got ${describeType(value)}` };
  const event = readEnum(value, 'event', PASSBASE_EVENTS);
  if (!event.ok) return event;
  const key = readUuid(value);
  if (!key.ok) return key;
  const status = readEnum(value, 'status', PASSBASE_STATUSES);
  if (!status.ok) return status;
  // created and processed are not stored, but a malformed one means this is not the documented event.
  const created = readRequiredUnixSeconds(value, 'created');
  if (!created.ok) return created;
  const updated = readRequiredUnixSeconds(value, 'updated');
  if (!updated.ok) return updated;
  const processed = readUnixSeconds(value, 'processed');
  if (!processed.ok) return processed;

  return {
    ok: true,
    value: {
      provider: 'PASSBASE',
      providerEventId: passbaseEventId(key.value, event.value, status.value, updated.value),
      providerIdentityId: key.value,
      clientCustomerId: null,
      type: event.value,
      rawType: event.value,
      description: null,
      occurredAt: new Date(updated.value * 1000),
      newCarrier: null,
      newLineType: null,
      verificationStatus: status.value,
    },
  };
}

/**
 * Passbase sends no event id and every delivery has a fresh IV, so the id is built from what identifies
 * the event: `${key}:${event}:${status}:${updated}`. Readable rather than hashed, so an operator can see
 * what it stands for; unambiguous because no part can contain ":" (a UUID, two enums, an integer).
 * status and updated are in it because a verification can be reviewed again (approved, then declined):
 * each review is its own event, while a redelivery of the same one is a duplicate.
 */
export function passbaseEventId(key: string, event: string, status: string, updated: number): string {
  return `${key}:${event}:${status}:${updated}`;
}

function readEnum<T extends string>(obj: JsonRecord, field: string, allowed: readonly T[]): Field<T> {
  const value = obj[field];
  const known = allowed.find((candidate) => candidate === value);
  if (known !== undefined) return { ok: true, value: known };
  if (value === undefined || value === null) return { ok: false, reason: `${field} is missing` };
  const got = typeof value === 'string' ? quoteValue(value) : describeType(value);
  return { ok: false, reason: `${field} must be one of ${allowed.join(', ')}, got ${got}` };
}

function readUuid(obj: JsonRecord): Field<string> {
  const value = obj.key;
  if (typeof value === 'string' && UUID.test(value)) return { ok: true, value };
  if (value === undefined || value === null) return { ok: false, reason: 'key is missing' };
  const got = typeof value === 'string' ? quoteValue(value) : describeType(value);
  return { ok: false, reason: `key must be a UUID, got ${got}` };
}

function readRequiredUnixSeconds(obj: JsonRecord, field: string): Field<number> {
  const read = readUnixSeconds(obj, field);
  if (!read.ok) return read;
  return read.value === null ? { ok: false, reason: `${field} is missing` } : { ok: true, value: read.value };
}

/** A unix time in whole seconds, or null when absent (the docs do not say `processed` is always sent). */
function readUnixSeconds(obj: JsonRecord, field: string): Field<number | null> {
  const value = obj[field];
  if (value === undefined || value === null) return { ok: true, value: null };
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_UNIX_SECONDS) {
    return { ok: true, value };
  }
  if (typeof value === 'number' && Number.isInteger(value)) {
    return {
      ok: false,
      reason: `${field} must be a unix time from 0 to ${MAX_UNIX_SECONDS} (9999-12-31T23:59:59Z), got ${value}`,
    };
  }
  const got = typeof value === 'number' ? String(value) : describeType(value);
  return { ok: false, reason: `${field} must be a unix time in whole seconds, got ${got}` };
}
