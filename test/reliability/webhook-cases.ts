/**
 * Generated webhook requests for test/reliability/fuzz-webhooks.test.ts, each with what the server may
 * answer. A case is plain data (so fast-check can shrink it); `build` signs it at send time, exactly as
 * each provider signs (src/simulator/sign.ts), then applies the case's mutation.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { encryptPassbase, signSvix } from '../../src/simulator/sign.js';
import { signProve } from '../fixtures/signers.js';
import { PASSBASE_KEY, PROVE_SECRET, VOVE_SECRET } from '../helpers/webhooks.js';
import { bodyBytes, passbaseBody, proveBody, voveBody } from './hostile-json.js';

export type Endpoint = 'prove' | 'vove' | 'passbase';

/**
 * forged: must not authenticate (401, or 413 before anything is read; a tampered Passbase body may
 * decrypt to JSON that is not an event: 400). authentic: correctly signed, so 200 or 400 (or 413, or
 * 202 if PostgreSQL is slow). ambiguous: neither is promised (duplicate headers, whitespace in base64):
 * only never a 5xx.
 */
export type Expect = 'forged' | 'authentic' | 'ambiguous';

export interface BuiltRequest {
  endpoint: Endpoint;
  body: Buffer;
  headers: [string, string][];
  expect: Expect;
  /** A second send of the same request (a replayed Prove token): must answer 409 or 401. */
  replay?: boolean;
}

/** The marker in every id a forged delivery carries: none may ever be found in identity_events. */
export const FORGED = 'forged';

const now = () => new Date();
const seconds = () => Math.floor(Date.now() / 1000);
const xor = (buf: Buffer, at: number, mask: number) => {
  const copy = Buffer.from(buf);
  if (copy.length > 0) copy[at % copy.length] = (copy[at % copy.length] ?? 0) ^ (mask || 1);
  return copy;
};
/** Replaces one base64(url) character with another, away from the last one (whose low bits may be unused). */
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
function changeChar(s: string, at: number, pick: number): string {
  if (s.length < 3) return `${s}A`;
  const i = at % (s.length - 2);
  const current = s[i] ?? 'A';
  const others = B64.replace(current, '');
  return s.slice(0, i) + others[pick % others.length] + s.slice(i + 1);
}
const recase = (name: string, style: number) =>
  style === 0 ? name : style === 1 ? name.toUpperCase() : name.replace(/(^|-)(\w)/g, (m) => m.toUpperCase());

function forgedProveBody(): Buffer {
  const id = `${FORGED}-${randomUUID()}`;
  return Buffer.from(
    JSON.stringify({
      notifications: [
        {
          eventId: id,
          eventType: 'PORT',
          eventTimestamp: now().toISOString(),
          identityId: id,
          clientCustomerId: id,
        },
      ],
    }),
  );
}
const forgedVoveBody = () =>
  Buffer.from(JSON.stringify({ status: 'suspected', refId: `${FORGED}-${randomUUID()}` }));
/** Passbase keys must be UUIDs: a forged one is recorded so the test can look for it. */
export const forgedPassbaseKeys = new Set<string>();
function forgedPassbasePlaintext(): Buffer {
  const key = randomUUID();
  forgedPassbaseKeys.add(key);
  const t = seconds();
  // `event` first: an IV bit flip lands in `{"event":"VERIFI`, so the result is never a valid event.
  return Buffer.from(
    JSON.stringify({
      event: 'VERIFICATION_REVIEWED',
      key,
      status: 'declined',
      created: t,
      updated: t,
      processed: t,
    }),
  );
}

export type MakeRequest = () => Promise<BuiltRequest>;

/** A request maker that fast-check prints as its recipe (the counterexample it reports), not as code. */
function recipe(name: string, data: unknown, make: MakeRequest): MakeRequest {
  const text = `${name}(${fc.stringify(data)})`;
  return Object.assign(make, { [fc.toStringMethod]: () => text });
}

// ---- Prove ------------------------------------------------------------------------------------

type ProveMutation =
  | { m: 'flipBody'; at: number; mask: number }
  | { m: 'wrongSecret'; secret: string }
  | { m: 'alg'; alg: 'none' | 'HS384' | 'HS512' }
  | { m: 'claim'; name: 'exp' | 'iat' | 'nbf' | 'jti' | 'body_hash' | 'iss'; value: unknown }
  | { m: 'tokenChar'; at: number; pick: number }
  | { m: 'tokenShape'; shape: 'truncate' | 'append' | 'noBearer' | 'otherScheme' | 'headerOnly' | 'empty' }
  | { m: 'noHeader' };

const proveMutation: fc.Arbitrary<ProveMutation> = fc.oneof(
  fc.record({ m: fc.constant('flipBody' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({
    m: fc.constant('wrongSecret' as const),
    secret: fc.string({ minLength: 1 }).filter((s) => s !== PROVE_SECRET),
  }),
  fc.record({
    m: fc.constant('alg' as const),
    alg: fc.constantFrom('none' as const, 'HS384' as const, 'HS512' as const),
  }),
  fc.oneof(
    fc.record({
      m: fc.constant('claim' as const),
      name: fc.constantFrom('exp' as const),
      value: fc.oneof(
        fc.constant(undefined),
        fc.integer({ min: 61, max: 1e9 }).map((k) => seconds() - k - 60),
        fc.string(),
      ),
    }),
    fc.record({
      m: fc.constant('claim' as const),
      name: fc.constantFrom('iat' as const, 'nbf' as const),
      value: fc.integer({ min: 61, max: 1e9 }).map((k) => seconds() + k + 60),
    }),
    fc.record({
      m: fc.constant('claim' as const),
      name: fc.constant('jti' as const),
      value: fc.oneof(
        fc.constant(undefined),
        fc.constant(''),
        fc.integer(),
        fc.string({ minLength: 201, maxLength: 300 }),
      ),
    }),
    fc.record({
      m: fc.constant('claim' as const),
      name: fc.constant('body_hash' as const),
      value: fc.oneof(fc.constant(undefined), fc.integer(), fc.string(), fc.stringMatching(/^[0-9a-f]{64}$/)),
    }),
    fc.record({
      m: fc.constant('claim' as const),
      name: fc.constant('iss' as const),
      value: fc.oneof(
        fc.string().filter((s) => s !== 'Prove Identity'),
        fc.constantFrom('prove identity', 'Prove Identity '),
      ),
    }),
  ),
  fc.record({ m: fc.constant('tokenChar' as const), at: fc.nat(), pick: fc.nat() }),
  fc.record({
    m: fc.constant('tokenShape' as const),
    shape: fc.constantFrom(
      'truncate' as const,
      'append' as const,
      'noBearer' as const,
      'otherScheme' as const,
      'headerOnly' as const,
      'empty' as const,
    ),
  }),
  fc.constant({ m: 'noHeader' as const }),
);

async function forgedProve(mut: ProveMutation, headerCase: number): Promise<BuiltRequest> {
  let body = forgedProveBody();
  const name = recase('x-prove-authorization', headerCase);
  const sign = (
    o: { claims?: Record<string, unknown>; header?: Record<string, unknown>; secret?: string } = {},
  ) => signProve({ secret: o.secret ?? PROVE_SECRET, body, ...o });
  let value: string | null;
  switch (mut.m) {
    case 'flipBody': {
      value = `Bearer ${await sign()}`;
      body = xor(body, mut.at, mut.mask);
      break;
    }
    case 'wrongSecret':
      value = `Bearer ${await sign({ secret: mut.secret })}`;
      break;
    case 'alg':
      value = `Bearer ${await sign({ header: { alg: mut.alg } })}`;
      break;
    case 'claim': {
      // A body_hash that happens to be the right one is not a forgery: the generator's hex never is.
      value = `Bearer ${await sign({ claims: { [mut.name]: mut.value } })}`;
      break;
    }
    case 'tokenChar': {
      const [h, p, s] = (await sign()).split('.') as [string, string, string];
      const part = mut.pick % 3;
      const parts = [h, p, s];
      parts[part] = changeChar(parts[part] ?? '', mut.at, mut.pick);
      value = `Bearer ${parts.join('.')}`;
      break;
    }
    case 'tokenShape': {
      const token = await sign();
      value = {
        truncate: `Bearer ${token.slice(0, -5)}`,
        append: `Bearer ${token}x`,
        noBearer: token,
        otherScheme: `Basic ${token}`,
        headerOnly: `Bearer ${token.split('.')[0]}`,
        empty: 'Bearer ',
      }[mut.shape];
      break;
    }
    case 'noHeader':
      value = null;
      break;
  }
  return {
    endpoint: 'prove',
    body,
    headers: [
      ['content-type', 'application/json'],
      ...(value === null ? [] : [[name, value] as [string, string]]),
    ],
    expect: 'forged',
  };
}

async function authenticProve(body: Buffer, headerCase: number, replay: boolean): Promise<BuiltRequest> {
  const token = await signProve({ secret: PROVE_SECRET, body });
  return {
    endpoint: 'prove',
    body,
    headers: [
      ['content-type', 'application/json'],
      [recase('x-prove-authorization', headerCase), `Bearer ${token}`],
      ['x-correlation-id', randomUUID()],
    ],
    expect: 'authentic',
    replay,
  };
}

// ---- VOVE -------------------------------------------------------------------------------------

type VoveMutation =
  | { m: 'flipBody'; at: number; mask: number }
  | { m: 'wrongSecret' }
  | { m: 'staleTimestamp'; offset: number }
  | { m: 'changedTimestamp'; delta: number }
  | { m: 'changedId' }
  | { m: 'drop'; header: 'id' | 'timestamp' | 'signature' }
  | {
      m: 'signature';
      form: 'garbage' | 'v2' | 'noComma' | 'flipped' | 'manyBad' | 'notBase64';
      at: number;
      pick: number;
    }
  | { m: 'timestampText'; text: string };

const voveMutation: fc.Arbitrary<VoveMutation> = fc.oneof(
  fc.record({ m: fc.constant('flipBody' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.constant({ m: 'wrongSecret' as const }),
  fc.record({
    m: fc.constant('staleTimestamp' as const),
    offset: fc.oneof(fc.integer({ min: 400, max: 1e8 }), fc.integer({ min: -1e8, max: -400 })),
  }),
  fc.record({
    m: fc.constant('changedTimestamp' as const),
    delta: fc.integer({ min: -200, max: 200 }).filter((d) => d !== 0),
  }),
  fc.constant({ m: 'changedId' as const }),
  fc.record({
    m: fc.constant('drop' as const),
    header: fc.constantFrom('id' as const, 'timestamp' as const, 'signature' as const),
  }),
  fc.record({
    m: fc.constant('signature' as const),
    form: fc.constantFrom(
      'garbage' as const,
      'v2' as const,
      'noComma' as const,
      'flipped' as const,
      'manyBad' as const,
      'notBase64' as const,
    ),
    at: fc.nat(),
    pick: fc.nat(),
  }),
  fc.record({
    m: fc.constant('timestampText' as const),
    text: fc.oneof(fc.string(), fc.constantFrom('1e10', '-1', '', ' ', '0x10', '99999999999999999999')),
  }),
);

function voveHeaders(body: Buffer, opts: { id?: string; timestamp?: Date; secret?: string } = {}) {
  const id = opts.id ?? `msg_${randomUUID()}`;
  return {
    id,
    ...signSvix({ secret: opts.secret ?? VOVE_SECRET, id, timestamp: opts.timestamp ?? now(), body }),
  };
}

function forgedVove(mut: VoveMutation, prefix: 'svix' | 'webhook'): BuiltRequest {
  let body = forgedVoveBody();
  const id = `msg_${FORGED}_${randomUUID()}`;
  const signed = voveHeaders(body, {
    id,
    ...(mut.m === 'staleTimestamp' ? { timestamp: new Date(Date.now() + mut.offset * 1000) } : {}),
    ...(mut.m === 'wrongSecret' ? { secret: `whsec_${randomBytes(24).toString('base64')}` } : {}),
  });
  const h: Record<'id' | 'timestamp' | 'signature', string | null> = {
    id: signed['svix-id'],
    timestamp: signed['svix-timestamp'],
    signature: signed['svix-signature'],
  };
  const sig = signed['svix-signature'].slice(3);
  switch (mut.m) {
    case 'flipBody':
      body = xor(body, mut.at, mut.mask);
      break;
    case 'changedTimestamp':
      h.timestamp = String(Number(h.timestamp) + mut.delta);
      break;
    case 'changedId':
      h.id = `msg_${FORGED}_${randomUUID()}`;
      break;
    case 'drop':
      h[mut.header] = null;
      break;
    case 'signature':
      h.signature = {
        garbage: `v1,${randomBytes(32).toString('base64')}`,
        v2: `v2,${sig}`,
        noComma: `v1${sig}`,
        flipped: `v1,${changeChar(sig, mut.at, mut.pick)}`,
        manyBad: Array.from(
          { length: 1 + (mut.at % 20) },
          () => `v1,${randomBytes(32).toString('base64')}`,
        ).join(' '),
        notBase64: `v1,${'!@#$%^&*()'.repeat(1 + (mut.at % 5))}`,
      }[mut.form];
      break;
    case 'timestampText':
      h.timestamp = mut.text;
      break;
    default:
      break;
  }
  const headers: [string, string][] = [['content-type', 'application/json']];
  for (const k of ['id', 'timestamp', 'signature'] as const) {
    const v = h[k];
    if (v !== null) headers.push([`${prefix}-${k}`, v]);
  }
  return { endpoint: 'vove', body, headers, expect: 'forged' };
}

/** Correctly signed; sometimes under webhook-* names, or with the valid signature among bad ones. */
function authenticVove(body: Buffer, prefix: 'svix' | 'webhook', extraSignatures: number): BuiltRequest {
  const signed = voveHeaders(body);
  const bad = Array.from({ length: extraSignatures }, () => `v1,${randomBytes(32).toString('base64')}`);
  bad.splice(extraSignatures % (bad.length + 1), 0, signed['svix-signature']);
  return {
    endpoint: 'vove',
    body,
    headers: [
      ['content-type', 'application/json'],
      [`${prefix}-id`, signed['svix-id']],
      [`${prefix}-timestamp`, signed['svix-timestamp']],
      [`${prefix}-signature`, bad.join(' ')],
    ],
    expect: 'authentic',
  };
}

// ---- Passbase ---------------------------------------------------------------------------------

type PassbaseMutation =
  | { m: 'wrongKey' }
  | { m: 'flipIv'; at: number; mask: number }
  | { m: 'flipCiphertext'; at: number; mask: number }
  | { m: 'truncate'; bytes: number }
  | { m: 'garbageChar'; at: number; char: string }
  | { m: 'ivOnly' }
  | { m: 'plainJson' };

const passbaseMutation: fc.Arbitrary<PassbaseMutation> = fc.oneof(
  fc.constant({ m: 'wrongKey' as const }),
  fc.record({
    m: fc.constant('flipIv' as const),
    at: fc.nat({ max: 15 }),
    mask: fc.integer({ min: 1, max: 255 }),
  }),
  fc.record({
    m: fc.constant('flipCiphertext' as const),
    at: fc.nat(),
    mask: fc.integer({ min: 1, max: 255 }),
  }),
  fc.record({ m: fc.constant('truncate' as const), bytes: fc.integer({ min: 1, max: 40 }) }),
  fc.record({
    m: fc.constant('garbageChar' as const),
    at: fc.nat(),
    char: fc.constantFrom('!', '-', '_', '*', '.', '{', '\u00e9'),
  }),
  fc.constant({ m: 'ivOnly' as const }),
  // Plain JSON is accepted only with PASSBASE_ALLOW_UNENCRYPTED=true, which the fuzzed server lacks.
  fc.constant({ m: 'plainJson' as const }),
);

const passbaseKey = Buffer.from(PASSBASE_KEY);

function forgedPassbase(mut: PassbaseMutation): BuiltRequest {
  const plaintext = forgedPassbasePlaintext();
  const key = mut.m === 'wrongKey' ? randomBytes(32) : passbaseKey;
  const bytes = Buffer.from(encryptPassbase(key, plaintext), 'base64');
  let text: string;
  switch (mut.m) {
    case 'flipIv':
      text = xor(bytes, mut.at, mut.mask).toString('base64');
      break;
    case 'flipCiphertext':
      text = xor(bytes.subarray(16), mut.at, mut.mask).toString('base64');
      text = Buffer.concat([bytes.subarray(0, 16), Buffer.from(text, 'base64')]).toString('base64');
      break;
    case 'truncate':
      text = bytes.subarray(0, Math.max(0, bytes.length - mut.bytes)).toString('base64');
      break;
    case 'garbageChar': {
      const b64 = bytes.toString('base64');
      const i = mut.at % b64.length;
      text = b64.slice(0, i) + mut.char + b64.slice(i);
      break;
    }
    case 'ivOnly':
      text = bytes.subarray(0, 16).toString('base64');
      break;
    case 'plainJson':
      text = plaintext.toString('utf8');
      break;
    default:
      text = bytes.toString('base64');
  }
  return {
    endpoint: 'passbase',
    body: Buffer.from(text),
    headers: [['content-type', 'text/plain']],
    expect: 'forged',
  };
}

function authenticPassbase(plaintext: Buffer, wrap: boolean): BuiltRequest {
  let text = encryptPassbase(passbaseKey, plaintext);
  // Line-wrapped base64 (Ruby's encode64) is still base64.
  if (wrap) text = text.replace(/.{60}/g, '$&\n');
  return {
    endpoint: 'passbase',
    body: Buffer.from(text),
    headers: [['content-type', 'text/plain']],
    expect: 'authentic',
  };
}

// ---- random bytes and headers -----------------------------------------------------------------

const HEADER_NAMES = [
  'x-prove-authorization',
  'X-Prove-Authorization',
  'svix-id',
  'svix-timestamp',
  'svix-signature',
  'webhook-signature',
  'content-type',
  'x-correlation-id',
  'authorization',
];
const headerValue = fc.oneof(
  fc.string({ maxLength: 100 }).map((s) => s.replace(/[^\t\x20-\x7e]/g, '')),
  fc.constantFrom('Bearer ', 'Bearer a.b.c', 'v1,', 'v1,AAAA', 'application/json; charset=utf-16', '0'),
  fc
    .uint8Array({ maxLength: 60 })
    .map((b) => `Bearer ${Buffer.from(b).toString('base64url')}.e30.${Buffer.from(b).toString('base64url')}`),
);
const endpoint = fc.constantFrom<Endpoint>('prove', 'vove', 'passbase');

/** A request of random bytes and random provider headers: authenticates nowhere. */
const randomRequest = fc
  .record({
    endpoint,
    body: fc.oneof(
      { weight: 20, arbitrary: fc.uint8Array({ maxLength: 2048 }) },
      { weight: 4, arbitrary: fc.base64String({ maxLength: 400 }).map((s) => new TextEncoder().encode(s)) },
      {
        weight: 1,
        arbitrary: fc
          .integer({ min: 1024 * 1024 - 2, max: 1024 * 1024 + 2 })
          .map((n) => new Uint8Array(n).fill(0x41)),
      },
    ),
    headers: fc.array(fc.tuple(fc.constantFrom(...HEADER_NAMES), headerValue), { maxLength: 5 }),
  })
  .map((r): (() => Promise<BuiltRequest>) => async () => ({
    endpoint: r.endpoint,
    body: Buffer.from(r.body),
    // Node refuses to send two Content-Type headers; one of each is enough here.
    headers: r.headers.filter(([n], i, all) => n !== 'content-type' || all.findIndex(([m]) => m === n) === i),
    expect: 'forged',
  }));

/** Duplicate provider headers: which copy counts is not promised, only that nothing breaks. */
const duplicateHeaders = fc
  .record({ endpoint: fc.constantFrom<Endpoint>('prove', 'vove'), second: fc.boolean() })
  .map((r): (() => Promise<BuiltRequest>) => async () => {
    const id = `ambiguous-${randomUUID()}`;
    if (r.endpoint === 'prove') {
      const built = await authenticProve(
        Buffer.from(
          JSON.stringify({
            notifications: [
              { eventId: id, eventType: 'PORT', eventTimestamp: now().toISOString(), identityId: id },
            ],
          }),
        ),
        0,
        false,
      );
      const auth = built.headers.find(([n]) => n === 'x-prove-authorization') as [string, string];
      built.headers.push(['X-Prove-Authorization', r.second ? auth[1] : 'Bearer a.b.c']);
      return { ...built, expect: 'ambiguous' };
    }
    const built = authenticVove(Buffer.from(JSON.stringify({ status: 'pending', refId: id })), 'svix', 0);
    built.headers.push(['svix-signature', r.second ? `v1,${randomBytes(32).toString('base64')}` : 'v1,AAAA']);
    return { ...built, expect: 'ambiguous' };
  });

/** Every kind of webhook request, as a thunk that signs it when it is sent. */
export const webhookRequest: fc.Arbitrary<MakeRequest> = fc.oneof(
  { weight: 6, arbitrary: randomRequest },
  {
    weight: 6,
    arbitrary: fc
      .tuple(proveMutation, fc.nat({ max: 2 }))
      .map(([m, c]) => recipe('forgedProve', { m, c }, () => forgedProve(m, c))),
  },
  {
    weight: 5,
    arbitrary: fc
      .tuple(voveMutation, fc.constantFrom('svix' as const, 'webhook' as const))
      .map(([m, p]) => recipe('forgedVove', { m, p }, async () => forgedVove(m, p))),
  },
  {
    weight: 4,
    arbitrary: passbaseMutation.map((m) => recipe('forgedPassbase', m, async () => forgedPassbase(m))),
  },
  {
    weight: 5,
    arbitrary: fc
      .tuple(bodyBytes(proveBody), fc.nat({ max: 2 }), fc.boolean())
      .map(([b, c, replay]) =>
        recipe('authenticProve', { b: b.toString('latin1'), c, replay }, () => authenticProve(b, c, replay)),
      ),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(bodyBytes(voveBody), fc.constantFrom('svix' as const, 'webhook' as const), fc.nat({ max: 3 }))
      .map(([b, p, n]) =>
        recipe('authenticVove', { b: b.toString('latin1'), p, n }, async () => authenticVove(b, p, n)),
      ),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(bodyBytes(passbaseBody), fc.boolean())
      .map(([b, w]) =>
        recipe('authenticPassbase', { b: b.toString('latin1'), w }, async () => authenticPassbase(b, w)),
      ),
  },
  { weight: 1, arbitrary: duplicateHeaders },
);
