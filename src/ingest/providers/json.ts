/**
 * Small guards shared by the provider modules for reading untrusted input: webhook bodies stay `unknown`
 * until one of these has checked them, and request headers may be `string | string[] | undefined`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { storableText } from '../../domain/text.js';

export type JsonRecord = Record<string, unknown>;

/** A plain JSON object (not an array, not null). */
export function isRecord(value: unknown): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A short name for the JSON type of a value, for error messages ("array", "null", "number"...). */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/**
 * A provider-sent value, quoted and cut short, for a message. Only ever used on authenticated
 * content (never on headers or tokens), so it cannot leak a secret; the cap keeps messages readable.
 */
export function quoteValue(value: string, max = 60): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value);
}

// `fatal: true` turns malformed UTF-8 into an error instead of silently inserting U+FFFD, so a body
// that is not UTF-8 is reported as such rather than parsed into something the sender never wrote.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Strict UTF-8 decoding; throws a TypeError on malformed input. */
export function decodeUtf8Strict(bytes: Uint8Array): string {
  return strictUtf8.decode(bytes);
}

// Standard base64, padded or not. Buffer.from(_, 'base64') silently skips any other character, so the
// alphabet is checked first: text that is not base64 must not be "decoded" into something else.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;

/** Standard base64 (RFC 4648 alphabet, padding optional) and nothing else; "" counts as base64. */
export function isBase64(text: string): boolean {
  return BASE64.test(text);
}

export type JsonBody = { ok: true; value: unknown } | { ok: false; message: string };

// A JSON escape of U+0000 or of a UTF-16 surrogate: the only ways a strictly decoded body can carry text
// that PostgreSQL refuses. (A well-formed surrogate pair is harmless; telling it apart is left to
// storableText, this only decides whether to look.)
const UNSTORABLE_ESCAPE = /\\u0000|\\u[dD][89a-fA-F]/;
/** A parsed JSON value with storableText applied to every string in it, keys included. */
function storableJson(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value);
  if (Array.isArray(value)) return value.map(storableJson);
  if (isRecord(value))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [storableText(k), storableJson(v)]));
  return value;
}

/** No provider nests deeper than a few levels; storing and spooling walk a body recursively. */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether valid JSON text nests arrays and objects deeper than `max`. A scan of the text, not a walk
 * of the parsed value: JSON.parse takes any depth, while recursion over 100,000 levels overflows the stack.
 */
function nestedDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      // A backslash escapes the next character; a quote ends the string.
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * Parses a body as UTF-8 JSON without throwing, its strings made storable (storableText), nested at
 * most MAX_JSON_DEPTH levels. The messages are fixed strings on purpose: V8's SyntaxError messages
 * quote pieces of the input, and a 400 answer should not echo the body.
 */
export function parseJsonBody(bytes: Uint8Array): JsonBody {
  let text: string;
  try {
    text = decodeUtf8Strict(bytes);
  } catch {
    return { ok: false, message: 'body is not valid UTF-8' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, message: 'body is not valid JSON' };
  }
  if (nestedDeeperThan(text, MAX_JSON_DEPTH))
    return { ok: false, message: `body is nested deeper than ${MAX_JSON_DEPTH} levels` };
  return { ok: true, value: UNSTORABLE_ESCAPE.test(text) ? storableJson(value) : value };
}

/** 0001-01-01T00:00:00Z: PostgreSQL refuses year 0 (22008), and ISO 8601 writes years in four digits. */
const EARLIEST_STORABLE_MS = -62_135_596_800_000;
/** 9999-12-31T23:59:59.999Z: later years print as "+010000-…", which PostgreSQL refuses (22009). */
const LATEST_STORABLE_MS = 253_402_300_799_999;

/**
 * True for an instant PostgreSQL stores as given: years 0001 to 9999 in UTC. JavaScript Dates reach
 * much further both ways, so a provider's date must be checked before it reaches a commit, where one
 * bad date would fail the whole delivery.
 */
export function isStorableInstant(date: Date): boolean {
  const ms = date.getTime();
  return ms >= EARLIEST_STORABLE_MS && ms <= LATEST_STORABLE_MS;
}

export type Field<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * Reads a required string field that providers spell several ways (e.g. `eventId` / `eventID`): the first
 * alias present with a non-null value wins. Absent, null and "" are "missing"; another type, or more than
 * `maxLength` characters, is a failure whose reason names the field.
 */
export function readRequiredString(
  obj: JsonRecord,
  aliases: readonly string[],
  maxLength: number,
): Field<string> {
  const field = readOptionalString(obj, aliases, maxLength);
  if (!field.ok) return field;
  if (field.value === null) return { ok: false, reason: `${aliases.join(' / ')} is missing` };
  return { ok: true, value: field.value };
}

/** Like readRequiredString, but absent, null and "" read as `null`. */
export function readOptionalString(
  obj: JsonRecord,
  aliases: readonly string[],
  maxLength: number,
): Field<string | null> {
  const alias = aliases.find(
    (name) => Object.hasOwn(obj, name) && obj[name] !== null && obj[name] !== undefined,
  );
  const value = alias === undefined ? undefined : obj[alias];
  if (alias === undefined || value === '') return { ok: true, value: null };
  if (typeof value !== 'string')
    return { ok: false, reason: `${alias} must be a string, got ${describeType(value)}` };
  if (value.length > maxLength) {
    return { ok: false, reason: `${alias} must be at most ${maxLength} characters, got ${value.length}` };
  }
  return { ok: true, value };
}

/**
 * One header value. Node gives a `string[]` only for a header sent several times; for the
 * authentication headers that is ambiguous (which one was signed?), so it reads as absent.
 */
export function singleHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (Array.isArray(value)) return value.length === 1 ? value[0] : undefined;
  return value;
}
