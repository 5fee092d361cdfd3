/**
 * API bearer tokens as the contract describes them (docs/api.md: Configuration; Auth and
 * scopes): RS256/ES256 tokens checked against a JWKS URL, AUTH_ISSUER and AUTH_AUDIENCE enforced in
 * both modes, scopes from the `scp` array as from the `scope` string, over HTTP and WebSocket.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type JWTPayload, SignJWT } from 'jose';
import { type FakeJwks, makeKey, signWith, startFakeJwks, type TestKey } from '../fixtures/fake-jwks.js';
import { startTestServer, TEST_AUTH_SECRET, type TestServer } from '../helpers/server.js';
import { type Subscriber, subscribe } from '../helpers/subscriber.js';
import { postProve, proveNotification, WEBHOOK_ENV } from '../helpers/webhooks.js';

const ISSUER = 'https://idp.test/';
const AUDIENCE = 'identity-monitoring-api';
/** Needs identities:read; answers `{ identity: null }` on an empty database. */
const IDENTITY_QUERY = '{ identity(id: "8b0e7d3c-5a3b-4f57-9a2b-1c2d3e4f5a6b") { id } }';
const NO_IDENTITY = { data: { identity: null } };

/** Issuer, audience and the identities:read scope: what a good token carries here. */
const good = (over: JWTPayload = {}): JWTPayload => ({
  iss: ISSUER,
  aud: AUDIENCE,
  sub: 'partner-app',
  scope: 'identities:read',
  ...over,
});

/** `claims` without the named ones. */
function without(claims: JWTPayload, ...names: string[]): JWTPayload {
  return Object.fromEntries(Object.entries(claims).filter(([k]) => !names.includes(k)));
}

/** An HS256 token over `secret` (UTF-8), expiring in five minutes; `kid` goes in the header. */
function signHs256(secret: string, claims: JWTPayload, kid?: string): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...(kid ? { kid } : {}) })
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(secret));
}

/** A token with exactly these claims (no iat or exp added), signed with `key` or the HS256 `secret`. */
function signExactly(claims: JWTPayload, key: TestKey | string): Promise<string> {
  const jwt = new SignJWT(claims);
  return typeof key === 'string'
    ? jwt.setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(key))
    : jwt.setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' }).sign(key.privateKey);
}

const DAY_S = 24 * 3600;
const nowS = () => Math.floor(Date.now() / 1000);

/** An unsecured JWT (`alg: none`, empty signature), which no verifier may accept. */
function unsecured(claims: JWTPayload): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ ...claims, iat: now, exp: now + 300 })}.`;
}

/** Asserts the query was refused as UNAUTHENTICATED with HTTP 401, with a message matching `reason`. */
async function assertRefused(s: TestServer, token: string, reason: RegExp): Promise<void> {
  const res = await s.gql(IDENTITY_QUERY, {}, { token });
  assert.equal(res.status, 401, JSON.stringify(res.body));
  assert.equal(res.body.data, undefined);
  assert.equal(res.body.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
  assert.match(res.body.errors?.[0]?.message ?? '', reason);
}

async function assertAccepted(s: TestServer, token: string): Promise<void> {
  const res = await s.gql(IDENTITY_QUERY, {}, { token });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.deepEqual(res.body, NO_IDENTITY);
}

/** The code the server closed the socket with, or a failure if it is still open after `ms`. */
async function closeCode(sub: Subscriber, ms = 3000): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const open = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the socket was still open after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([sub.closed, open]);
  } finally {
    clearTimeout(timer);
  }
}

/** A subscriber with this token is closed with 4403 before any event reaches it. */
async function assertRefusedOverWebSocket(url: string, token: string): Promise<void> {
  const sub = await subscribe(url, token);
  try {
    assert.equal(await closeCode(sub), 4403);
    assert.deepEqual(sub.events, []);
  } finally {
    await sub.dispose();
  }
}

describe('API tokens from a JWKS URL (fake JWKS on loopback), with AUTH_ISSUER and AUTH_AUDIENCE', () => {
  let rsa: TestKey;
  let ec: TestKey;
  /** Never published, but claims the RSA key's kid: only the signature can tell it apart. */
  let impostor: TestKey;
  /** Never published, with a kid of its own. */
  let stranger: TestKey;
  let jwks: FakeJwks;
  let s: TestServer;
  before(async () => {
    [rsa, ec, impostor, stranger] = await Promise.all([
      makeKey('RS256', 'rsa-1'),
      makeKey('ES256', 'ec-1'),
      makeKey('RS256', 'rsa-1'),
      makeKey('ES256', 'ec-unpublished'),
    ]);
    jwks = await startFakeJwks([rsa, ec]);
    s = await startTestServer({
      env: {
        ...WEBHOOK_ENV,
        AUTH_JWT_SECRET: '',
        AUTH_JWKS_URL: jwks.url,
        AUTH_ISSUER: ISSUER,
        AUTH_AUDIENCE: AUDIENCE,
      },
    });
  });
  after(async () => {
    await s?.close();
    await jwks?.close();
  });

  it('accepts an RS256 token signed by a published key, fetching the key set from the URL', async () => {
    await assertAccepted(s, await signWith(rsa, good()));
    assert.ok(jwks.fetches >= 1);
  });

  it('accepts an ES256 token signed by a published key', async () => {
    await assertAccepted(s, await signWith(ec, good()));
  });

  it("refuses a token signed by another key under a published key's kid", async () => {
    await assertRefused(s, await signWith(impostor, good()), /signature is invalid/);
  });

  it('refuses a token whose kid is not in the key set', async () => {
    await assertRefused(s, await signWith(stranger, good()), /no key matches/);
  });

  it('refuses HS256 and unsecured tokens: no algorithm confusion', async () => {
    // The classic attack: the public key, as the verifier knows it, used as an HMAC secret.
    const publicKeyAsSecret = JSON.stringify(rsa.publicJwk);
    for (const token of [
      await signHs256(publicKeyAsSecret, good(), rsa.kid),
      await signHs256(TEST_AUTH_SECRET, good()),
    ]) {
      await assertRefused(s, token, /algorithm not allowed/);
    }
    await assertRefused(s, unsecured(good()), /algorithm not allowed/);
  });

  it('refuses a wrong or missing iss', async () => {
    await assertRefused(s, await signWith(rsa, good({ iss: 'https://other-idp.test/' })), /"iss"/);
    await assertRefused(s, await signWith(ec, without(good(), 'iss')), /"iss"/);
  });

  it('refuses a wrong or missing aud, and accepts an aud array that includes the audience', async () => {
    await assertRefused(s, await signWith(rsa, good({ aud: 'another-api' })), /"aud"/);
    await assertRefused(s, await signWith(ec, without(good(), 'aud')), /"aud"/);
    await assertAccepted(s, await signWith(rsa, good({ aud: ['another-api', AUDIENCE] })));
  });

  it('reads scopes from an scp array like the scope string: allowed with it, FORBIDDEN without', async () => {
    await assertAccepted(s, await signWith(ec, without(good({ scp: ['identities:read'] }), 'scope')));
    const res = await s.gql(
      IDENTITY_QUERY,
      {},
      { token: await signWith(ec, without(good({ scp: ['events:read', 'events:subscribe'] }), 'scope')) },
    );
    assert.equal(res.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
    assert.match(res.body.errors?.[0]?.message ?? '', /identities:read/);
  });

  it('lets a WebSocket subscriber in with a JWKS-signed token and delivers events to it', async () => {
    const token = await signWith(ec, without(good({ scp: ['events:subscribe'] }), 'scope'));
    const sub = await subscribe(s.url, token, { filter: { providers: ['PROVE'] } });
    try {
      const n = proveNotification({ identityId: `jwks-ws-${randomUUID()}`, eventType: 'PORT' });
      assert.equal((await postProve(s.url, { notifications: [n] })).status, 200);
      const events = await sub.waitFor(1);
      assert.deepEqual(
        events.map((e) => [e.providerEventId, e.type]),
        [[n.eventId, 'PORT']],
      );
      assert.deepEqual(sub.errors, []);
    } finally {
      await sub.dispose();
    }
  });

  it('refuses a JWKS-signed token without exp', async () => {
    await assertRefused(s, await signExactly(good({ iat: nowS() }), rsa), /"exp" is missing/);
  });

  it('closes a WebSocket with 4403 for a token by an unpublished key, an HS256 token or a wrong iss', async () => {
    const scope = { scope: 'events:subscribe' };
    const tokens = [
      await signWith(impostor, good(scope)),
      await signHs256(TEST_AUTH_SECRET, good(scope)),
      await signWith(rsa, good({ ...scope, iss: 'https://other-idp.test/' })),
    ];
    for (const token of tokens) {
      await assertRefusedOverWebSocket(s.url, token);
    }
  });
});

describe('API tokens from a JWKS URL without AUTH_ISSUER or AUTH_AUDIENCE', () => {
  it('accepts a token that carries neither iss nor aud', async () => {
    const key = await makeKey('RS256', 'rsa-only');
    const jwks = await startFakeJwks([key]);
    const s = await startTestServer({ env: { AUTH_JWT_SECRET: '', AUTH_JWKS_URL: jwks.url } });
    try {
      await assertAccepted(s, await signWith(key, without(good(), 'iss', 'aud')));
    } finally {
      await s.close();
      await jwks.close();
    }
  });
});

describe('API tokens from a JWKS URL that does not answer', () => {
  it('refuses them saying the signing keys could not be fetched, not that the token is bad', async () => {
    const key = await makeKey('RS256', 'rsa-gone');
    const jwks = await startFakeJwks([key]);
    await jwks.close(); // nothing listens there any more
    const s = await startTestServer({ env: { AUTH_JWT_SECRET: '', AUTH_JWKS_URL: jwks.url } });
    try {
      await assertRefused(s, await signWith(key, good()), /signing keys could not be fetched/);
      // A malformed token is still told apart: it never needs the keys.
      await assertRefused(s, 'not.a.token', /malformed/);
    } finally {
      await s.close();
    }
  });
});

describe('HS256 API tokens with AUTH_ISSUER and AUTH_AUDIENCE', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ env: { AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE } });
  });
  after(() => s?.close());

  it('accepts a token with the configured iss and aud', async () => {
    await assertAccepted(s, await signHs256(TEST_AUTH_SECRET, good()));
  });

  it('refuses a wrong or missing iss', async () => {
    await assertRefused(
      s,
      await signHs256(TEST_AUTH_SECRET, good({ iss: 'https://other-idp.test/' })),
      /"iss"/,
    );
    await assertRefused(s, await signHs256(TEST_AUTH_SECRET, without(good(), 'iss')), /"iss"/);
  });

  it('refuses a wrong or missing aud', async () => {
    await assertRefused(s, await signHs256(TEST_AUTH_SECRET, good({ aud: 'another-api' })), /"aud"/);
    await assertRefused(s, await signHs256(TEST_AUTH_SECRET, without(good(), 'aud')), /"aud"/);
  });

  it('refuses an RS256 token when only the HS256 secret is configured', async () => {
    const key = await makeKey('RS256', 'rsa-1');
    await assertRefused(s, await signWith(key, good()), /algorithm not allowed/);
  });

  it('reads scopes from an scp array like the scope string: allowed with it, FORBIDDEN without', async () => {
    await assertAccepted(
      s,
      await signHs256(TEST_AUTH_SECRET, without(good({ scp: ['identities:read'] }), 'scope')),
    );
    const res = await s.gql(
      IDENTITY_QUERY,
      {},
      { token: await signHs256(TEST_AUTH_SECRET, without(good({ scp: ['events:read'] }), 'scope')) },
    );
    assert.equal(res.status, 200);
    assert.equal(res.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
    assert.match(res.body.errors?.[0]?.message ?? '', /identities:read/);
  });
});

describe('API token lifetime: exp is required, at most 30 days after iat (or after now without iat)', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s?.close());

  const claims = { sub: 'partner-app', scope: 'identities:read events:subscribe' };
  const sign = (c: JWTPayload) => signExactly({ ...claims, ...c }, TEST_AUTH_SECRET);

  it('refuses a token without exp as UNAUTHENTICATED, saying exp is missing', async () => {
    await assertRefused(s, await sign({ iat: nowS() }), /token claim "exp" is missing/);
    await assertRefused(s, await sign({}), /token claim "exp" is missing/);
  });

  it('refuses a token whose exp is a year away, with or without iat', async () => {
    const yearOut = nowS() + 365 * DAY_S;
    await assertRefused(
      s,
      await sign({ iat: nowS(), exp: yearOut }),
      /token lifetime exceeds the 30-day maximum/,
    );
    await assertRefused(s, await sign({ exp: yearOut }), /token lifetime exceeds the 30-day maximum/);
  });

  it('refuses a long-lived token near its end, and one whose iat is put in the future to look short', async () => {
    const old = nowS() - 365 * DAY_S;
    await assertRefused(s, await sign({ iat: old, exp: nowS() + 3600 }), /30-day maximum/);
    const later = nowS() + 300 * DAY_S;
    await assertRefused(s, await sign({ iat: later, exp: later + DAY_S }), /30-day maximum/);
  });

  it('accepts exactly 30 days after iat (what signToken and the dev token use), and 29 days without iat', async () => {
    await assertAccepted(s, await s.token(['identities:read']));
    await assertAccepted(s, await sign({ iat: nowS(), exp: nowS() + 30 * DAY_S }));
    await assertAccepted(s, await sign({ exp: nowS() + 29 * DAY_S }));
  });

  it('closes a WebSocket with 4403 for a token without exp or with exp a year away', async () => {
    for (const token of [
      await sign({ iat: nowS() }),
      await sign({ iat: nowS(), exp: nowS() + 365 * DAY_S }),
    ]) {
      await assertRefusedOverWebSocket(s.url, token);
    }
  });
});
