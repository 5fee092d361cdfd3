/**
 * Prove Identity Manager v3 client (facts from Prove's public server SDKs and API reference, and its
 * Identity Manager implementation guide). Every failure, refusal or unusable answer
 * becomes a ProviderUnavailableError whose message never carries the client secret or a token.
 */
import { STATUS_CODES } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ProveBatchItemResult,
  type ProveEnrollRequest,
  type ProveGateway,
  ProviderUnavailableError,
} from './prove-gateway.js';

export interface ProveGatewayOptions {
  clientId: string;
  clientSecret: string;
  /** From proveBaseUrl(). */
  baseUrl: string;
  /** Per HTTP call, default 10 s. */
  timeoutMs?: number;
  fetch?: typeof fetch;
  logger?: { warn(obj: object, msg: string): void };
  /** Renew the token this long before Prove says it expires, default 60 s. */
  renewBeforeExpiryMs?: number;
  /** Longest total wait for 429 Retry-After within one call, default 10 s. */
  maxRateLimitWaitMs?: number;
  /** Clock for token expiry only, so tests can move time forward without sleeping. */
  now?: () => number;
}

const REGION_BASE_URLS: Readonly<Record<string, string>> = {
  'uat-us': 'https://platform.uat.proveapis.com',
  'prod-us': 'https://platform.proveapis.com',
  'uat-eu': 'https://platform.uat.eu.proveapis.com',
  'prod-eu': 'https://platform.eu.proveapis.com',
};

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_RENEW_BEFORE_EXPIRY_MS = 60_000;
const DEFAULT_MAX_RATE_LIMIT_WAIT_MS = 10_000;
/** Prove's tokens last 60 minutes (provider docs); used only if an answer omits expires_in. */
const DEFAULT_TOKEN_LIFETIME_S = 3600;
const MAX_RATE_LIMIT_RETRIES = 3;
/** A 429 without Retry-After: Prove's limit is per second, so one second is enough. */
const DEFAULT_RETRY_AFTER_MS = 1000;
const MAX_BATCH_ITEMS = 100;
const MAX_SHOWN_MESSAGE_LENGTH = 200;

/** Maps PROVE_ENV (a region name, or an http(s) base URL for a fake or proxy) to a base URL. */
export function proveBaseUrl(env: string): string {
  const value = env.trim();
  const region = REGION_BASE_URLS[value];
  if (region !== undefined) return region;
  if (!/^https?:\/\//i.test(value)) {
    throw new Error(
      `PROVE_ENV must be one of ${Object.keys(REGION_BASE_URLS).join(', ')} or an http(s) base URL`,
    );
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error('PROVE_ENV is not a valid URL');
  }
  // Credentials in the URL would end up in logs; a query or fragment cannot prefix API paths.
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new Error('PROVE_ENV base URL must not contain credentials, a query or a fragment');
  }
  return value.replace(/\/+$/, '');
}

/**
 * Prove's Identity Manager examples send US numbers as 10 national digits ("2001004031", see
 * Prove's Identity Manager implementation guide) and it monitors US numbers only, so the +1 of our
 * stored E.164 is implied: send the form its docs show rather than rely on undocumented parsing.
 * Anything else is passed through for Prove to judge (the service only lets US numbers in).
 */
export function toProvePhoneNumber(e164: string): string {
  return /^\+1(\d{10})$/.exec(e164)?.[1] ?? e164;
}

/**
 * Retry-After as milliseconds to wait: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
 * null when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, nowMs: number = Date.now()): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  if (!/[a-z]/i.test(text)) return null;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}

/** The Prove-backed gateway; tokens are fetched lazily, cached and shared by all calls. */
export function proveGateway(opts: ProveGatewayOptions): ProveGateway {
  const http = proveHttp(opts);
  return {
    mode: 'prove',
    enroll: async (req) => readEnrolled(await http.post('/v3/identity', enrollBody(req)), 'enroll'),
    batchEnroll: (items) => batchEnroll(http, items),
    // An empty JSON object, as Prove's SDKs send (with its content type): nothing else is to be said.
    deactivate: async (proveId) => {
      readSuccess(await http.post(identityPath(proveId, 'deactivate'), {}), 'deactivate');
    },
    activate: async (proveId) => {
      readSuccess(await http.post(identityPath(proveId, 'activate'), {}), 'activate');
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Endpoints: request bodies and answer validation

function enrollBody(req: ProveEnrollRequest): Record<string, string> {
  const body: Record<string, string> = { phoneNumber: toProvePhoneNumber(req.phoneNumber) };
  if (req.clientCustomerId !== null) body.clientCustomerId = req.clientCustomerId;
  return body;
}

function identityPath(proveId: string, action: 'deactivate' | 'activate'): string {
  if (proveId === '') throw new TypeError('proveId must not be empty');
  return `/v3/identity/${encodeURIComponent(proveId)}/${action}`;
}

async function batchEnroll(http: ProveHttp, items: ProveEnrollRequest[]): Promise<ProveBatchItemResult[]> {
  if (items.length === 0) return [];
  // The service answers BATCH_TOO_LARGE before getting here; splitting would risk half-done batches.
  if (items.length > MAX_BATCH_ITEMS) {
    throw new RangeError(`Prove batch enrollment takes at most ${MAX_BATCH_ITEMS} items`);
  }
  const answer = await http.post('/v3/identity/batch', { items: items.map(enrollBody) });
  if (!isRecord(answer) || !Array.isArray(answer.results)) throw malformed('batch enroll');
  if (answer.results.length !== items.length) {
    throw new ProviderUnavailableError(
      `Prove answered ${answer.results.length} batch results for ${items.length} items`,
    );
  }
  return answer.results.map(readBatchItem);
}

function readBatchItem(item: unknown): ProveBatchItemResult {
  if (!isRecord(item)) throw malformed('batch enroll');
  const proveId = readProveId(item);
  if (proveId !== null) return { ok: true, proveId };
  const error = shownMessage(item.error) ?? shownMessage(item.message);
  if (error === null) throw malformed('batch enroll');
  // Prove names the error in words ("Invalid Phone Number"); the API speaks in codes.
  const invalidPhone = /^invalid phone number$/i.test(error);
  return { ok: false, code: invalidPhone ? 'INVALID_PHONE_NUMBER' : 'PROVIDER_UNAVAILABLE', message: error };
}

function readEnrolled(answer: unknown, what: string): { proveId: string } {
  if (!isRecord(answer)) throw malformed(what);
  if (answer.success === false) throw new ProviderUnavailableError(`Prove did not ${what} (success: false)`);
  const proveId = readProveId(answer);
  if (proveId === null) throw malformed(what);
  return { proveId };
}

function readSuccess(answer: unknown, what: string): void {
  if (!isRecord(answer) || typeof answer.success !== 'boolean') throw malformed(what);
  if (!answer.success) throw new ProviderUnavailableError(`Prove did not ${what} (success: false)`);
}

/** Current answers say `proveId`, older ones (and the Identity Manager guide) `identityId`: accept both. */
function readProveId(answer: Record<string, unknown>): string | null {
  for (const id of [answer.proveId, answer.identityId]) {
    if (typeof id === 'string' && id !== '') return id;
  }
  return null;
}

function malformed(what: string): ProviderUnavailableError {
  return new ProviderUnavailableError(`Prove answered ${what} with an unexpected body`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------------------------------------
// HTTP: token cache, 401 renew-once, 429 backoff, timeouts, error mapping

interface ProveHttp {
  post(path: string, body?: unknown): Promise<unknown>;
}

interface Answer {
  status: number;
  retryAfter: string | null;
  /** Parsed JSON, or undefined when the body was empty or not JSON. */
  json: unknown;
}

interface Token {
  value: string;
  lifetimeMs: number;
}

function proveHttp(opts: ProveGatewayOptions): ProveHttp {
  const doFetch = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxWaitMs = opts.maxRateLimitWaitMs ?? DEFAULT_MAX_RATE_LIMIT_WAIT_MS;
  const warn = (obj: object, msg: string) => opts.logger?.warn(obj, msg);
  // With the secret, what must never reach an error message; older tokens are long expired.
  const recentTokens: string[] = [];
  const redact = (text: string) => redactSecrets(text, [opts.clientSecret, ...recentTokens]);

  const baseUrl = opts.baseUrl.replace(/\/+$/, '');

  const exchange = async (path: string, init: RequestInit): Promise<Answer> => {
    const send = () => sendOnce(doFetch, `${baseUrl}${path}`, init, timeoutMs);
    return withRateLimitRetry(send, maxWaitMs, (waitMs, retry) =>
      warn({ path, waitMs, retry }, 'Prove answered 429; waiting before retrying'),
    );
  };

  const requestToken = async (): Promise<Token> => {
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: opts.clientId,
      client_secret: opts.clientSecret,
    });
    const answer = await exchange('/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
    });
    if (!isSuccess(answer.status)) throw failure('Prove token endpoint', answer, redact);
    const token = readToken(answer.json);
    recentTokens.push(token.value);
    if (recentTokens.length > 3) recentTokens.shift();
    return token;
  };

  const tokens = tokenCache(requestToken, opts.now ?? Date.now, opts.renewBeforeExpiryMs);

  const call = (path: string, token: string, body: unknown) =>
    exchange(path, {
      method: 'POST',
      headers: apiHeaders(token, body),
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  return {
    async post(path, body) {
      const token = await tokens.get();
      let answer = await call(path, token, body);
      if (answer.status === 401) {
        // Prove may revoke or expire a token before our clock says so: renew once, retry once.
        warn({ path }, 'Prove answered 401; renewing the access token and retrying once');
        tokens.invalidate(token);
        answer = await call(path, await tokens.get(), body);
      }
      if (!isSuccess(answer.status)) throw failure('Prove', answer, redact);
      return answer.json;
    },
  };
}

function apiHeaders(token: string, body: unknown): Record<string, string> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return headers;
}

/**
 * Caches the access token and renews it `renewBeforeExpiryMs` early; concurrent callers share one
 * in-flight token request, so a burst after expiry costs Prove one token call, not one per caller.
 */
function tokenCache(request: () => Promise<Token>, now: () => number, renewBeforeExpiryMs?: number) {
  const margin = renewBeforeExpiryMs ?? DEFAULT_RENEW_BEFORE_EXPIRY_MS;
  let cached: { value: string; renewAt: number } | null = null;
  let inflight: Promise<string> | null = null;

  const fetchToken = async (): Promise<string> => {
    const requestedAt = now();
    const token = await request();
    // A lifetime shorter than the margin would renew on every call: keep half of it instead.
    const early = token.lifetimeMs > margin ? margin : token.lifetimeMs / 2;
    cached = { value: token.value, renewAt: requestedAt + token.lifetimeMs - early };
    return token.value;
  };

  return {
    get(): Promise<string> {
      if (cached !== null && now() < cached.renewAt) return Promise.resolve(cached.value);
      inflight ??= fetchToken().finally(() => {
        inflight = null;
      });
      return inflight;
    },
    /** Drops the token Prove rejected, unless another caller already replaced it. */
    invalidate(value: string): void {
      if (cached?.value === value) cached = null;
    },
  };
}

function readToken(json: unknown): Token {
  if (!isRecord(json) || typeof json.access_token !== 'string' || json.access_token === '') {
    throw malformed('the token request');
  }
  const type = json.token_type;
  if (type !== undefined && (typeof type !== 'string' || type.toLowerCase() !== 'bearer')) {
    throw malformed('the token request');
  }
  const expiresIn = json.expires_in ?? DEFAULT_TOKEN_LIFETIME_S;
  if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0) {
    throw malformed('the token request');
  }
  return { value: json.access_token, lifetimeMs: expiresIn * 1000 };
}

/** Retries 429 answers after Retry-After, at most 3 times and `maxWaitMs` in total. */
async function withRateLimitRetry(
  send: () => Promise<Answer>,
  maxWaitMs: number,
  onWait: (waitMs: number, retry: number) => void,
): Promise<Answer> {
  let waited = 0;
  for (let retry = 1; ; retry++) {
    const answer = await send();
    if (answer.status !== 429) return answer;
    const waitMs = parseRetryAfter(answer.retryAfter) ?? DEFAULT_RETRY_AFTER_MS;
    // Waiting less than Prove asked would only earn another 429: give up at once instead.
    if (retry > MAX_RATE_LIMIT_RETRIES || waited + waitMs > maxWaitMs) {
      throw new ProviderUnavailableError('Prove is rate limiting requests (429 too many requests)', {
        status: 429,
      });
    }
    onWait(waitMs, retry);
    await sleep(waitMs);
    waited += waitMs;
  }
}

/** One HTTP exchange, body included, under the timeout; transport failures become provider errors. */
async function sendOnce(
  doFetch: typeof fetch,
  url: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<Answer> {
  try {
    const res = await doFetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    return { status: res.status, retryAfter: res.headers.get('retry-after'), json: parseJson(text) };
  } catch (err) {
    throw transportError(err, timeoutMs);
  }
}

function transportError(err: unknown, timeoutMs: number): ProviderUnavailableError {
  const name = typeof err === 'object' && err !== null && 'name' in err ? err.name : undefined;
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new ProviderUnavailableError(`Prove did not answer within ${timeoutMs / 1000} s`, { cause: err });
  }
  const code = err instanceof Error && isRecord(err.cause) ? err.cause.code : undefined;
  const detail = typeof code === 'string' && /^[A-Z_]+$/.test(code) ? ` (${code})` : '';
  return new ProviderUnavailableError(`Prove could not be reached${detail}`, { cause: err });
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

/** "Prove answered 404 (not found): <Prove's message>", the message only when short and clean. */
function failure(who: string, answer: Answer, redact: (text: string) => string): ProviderUnavailableError {
  const reason = STATUS_CODES[answer.status]?.toLowerCase() ?? 'unexpected status';
  const body = isRecord(answer.json) ? answer.json : {};
  const message = shownMessage(body.message);
  const providerCode = readProviderCode(body.code);
  const suffix = message === null ? '' : `: ${redact(message)}`;
  return new ProviderUnavailableError(`${who} answered ${answer.status} (${reason})${suffix}`, {
    status: answer.status,
    ...(providerCode === undefined ? {} : { providerCode }),
  });
}

/**
 * Prove's error `code` as text: an integer in its API (its SDKs read `code?: number`, e.g. 8002), a short
 * string kept too in case an endpoint answers one; anything else is dropped.
 */
function readProviderCode(code: unknown): string | undefined {
  if (typeof code === 'number' && Number.isSafeInteger(code)) return String(code);
  if (typeof code === 'string' && /^[\w.-]{1,64}$/.test(code)) return code;
  return undefined;
}

/** A provider text worth showing an admin: a short single-line string, else null. */
function shownMessage(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const text = value.trim();
  if (text === '' || text.length > MAX_SHOWN_MESSAGE_LENGTH) return null;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  return /[\u0000-\u001f\u007f]/.test(text) ? null : text;
}

/** Prove echoing a credential back must not put it in front of an admin or into logs. */
function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret !== '') out = out.split(secret).join('[redacted]');
  }
  return out.replace(/\beyJ[\w-]+\.[\w-]+\.[\w-]*/g, '[redacted]');
}
