import { encryptPassbase, proveHeaders, signProve, signSvix } from '../fixtures/signers.js';

/** Secrets the webhook tests configure; test/helpers/server.ts passes them through `env`. */
export const PROVE_SECRET = 'whsec_prove-test-secret-0123456789';
export const VOVE_SECRET = `whsec_${Buffer.from('vove-test-secret-0123456789abcd').toString('base64')}`;
export const PASSBASE_KEY = 'passbase-test-key-0123456789abcd'; // 32 bytes

export const WEBHOOK_ENV = {
  PROVE_WEBHOOK_SECRET: PROVE_SECRET,
  VOVE_WEBHOOK_SECRET: VOVE_SECRET,
  PASSBASE_WEBHOOK_SECRET: PASSBASE_KEY,
};

export interface Answer {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

export async function post(
  url: string,
  body: string | Buffer,
  headers: Record<string, string>,
): Promise<Answer> {
  const res = await fetch(url, { method: 'POST', body, headers });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // non-JSON answers are asserted on `text`
  }
  return { status: res.status, body: parsed, text };
}

let counter = 0;

/** A Prove notification with fresh ids; override any field. */
export function proveNotification(over: Record<string, unknown> = {}): Record<string, unknown> {
  counter++;
  return {
    eventId: `evt-${process.pid}-${Date.now()}-${counter}`,
    event: 'phone number ported to new provider',
    eventType: 'PORT',
    eventTimestamp: new Date().toISOString(),
    clientCustomerId: `cust-${counter}`,
    identityId: `prove-identity-${process.pid}-${counter}`,
    ...over,
  };
}

/** POSTs a Prove delivery signed exactly as Prove signs it. */
export async function postProve(
  baseUrl: string,
  body: string | Record<string, unknown>,
  opts: {
    secret?: string;
    claims?: Record<string, unknown>;
    header?: Record<string, unknown>;
    correlationId?: string;
    token?: string;
  } = {},
): Promise<Answer> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const token =
    opts.token ??
    (await signProve({
      secret: opts.secret ?? PROVE_SECRET,
      body: raw,
      ...(opts.claims ? { claims: opts.claims } : {}),
      ...(opts.header ? { header: opts.header } : {}),
    }));
  return post(`${baseUrl}/webhooks/prove`, raw, {
    'content-type': 'application/json',
    ...proveHeaders(token, opts.correlationId),
  });
}

/** POSTs a VOVE delivery signed by the svix library. */
export async function postVove(
  baseUrl: string,
  body: Record<string, unknown> | string,
  opts: { id?: string; timestamp?: Date; secret?: string } = {},
): Promise<Answer> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  counter++;
  const headers = signSvix({
    secret: opts.secret ?? VOVE_SECRET,
    id: opts.id ?? `msg_${process.pid}_${Date.now()}_${counter}`,
    timestamp: opts.timestamp ?? new Date(),
    body: raw,
  });
  return post(`${baseUrl}/webhooks/vove`, raw, { 'content-type': 'application/json', ...headers });
}

/** POSTs a Passbase delivery encrypted as Passbase encrypts it. */
export async function postPassbase(
  baseUrl: string,
  json: unknown,
  opts: { key?: string } = {},
): Promise<Answer> {
  const raw = encryptPassbase({ key: Buffer.from(opts.key ?? PASSBASE_KEY), json });
  return post(`${baseUrl}/webhooks/passbase`, raw, { 'content-type': 'text/plain' });
}
