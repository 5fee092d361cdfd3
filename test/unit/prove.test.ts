import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { proveProvider, proveSigningKeys } from '../../src/ingest/providers/prove.js';
import type { VerifiedDelivery, VerifyResult } from '../../src/ingest/providers/provider.js';
import {
  PROVE_IDENTITY_MANAGER_SAMPLE,
  PROVE_MANAGE_SAMPLE,
  PROVE_VERIFIED_USERS_SAMPLE,
} from '../fixtures/provider-samples.js';
import { proveBodyHash, proveHeaders, type SignProveOptions, signProve } from '../fixtures/signers.js';

const SECRET = 'whsec_your_secret_from_the_prove_portal';
const NOW = new Date('2025-01-23T10:12:00Z');
const NOW_SECONDS = Math.floor(NOW.getTime() / 1000);
const provider = proveProvider({ secret: SECRET });

type TokenOptions = Omit<SignProveOptions, 'secret' | 'body'> & { secret?: string };

/** Signs `body` like Prove (overridable) and runs verify with the fixed clock. */
async function deliver(
  body: string | Buffer,
  token: TokenOptions = {},
  extraHeaders: IncomingHttpHeaders = {},
) {
  const raw = Buffer.from(body);
  const jwt = await signProve({ now: NOW, ...token, secret: token.secret ?? SECRET, body: raw });
  return provider.verify(raw, { ...proveHeaders(jwt), ...extraHeaders }, NOW);
}

function codeOf(result: VerifyResult): string {
  return result.ok ? 'ok' : result.code;
}

function deliveryOf(result: VerifyResult): VerifiedDelivery {
  assert.ok(result.ok, `expected a verified delivery, got ${codeOf(result)}`);
  return result.delivery;
}

function bodyWith(notifications: unknown[]): string {
  return JSON.stringify({ notifications });
}

function notification(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    eventId: 'evt-1',
    event: 'phone number ported to new provider',
    eventType: 'PORT',
    eventTimestamp: '2025-01-23T10:11:12Z',
    identityId: 'identity-1',
    ...overrides,
  };
}

async function parseBody(body: string) {
  return provider.parse(deliveryOf(await deliver(body)));
}

describe('prove verify', () => {
  it('accepts a token signed as Prove signs it, with a replay guard covering lifetime plus skew', async () => {
    const raw = Buffer.from(PROVE_MANAGE_SAMPLE);
    const jwt = await signProve({ secret: SECRET, body: raw, now: NOW, claims: { jti: 'jti-123' } });
    const delivery = deliveryOf(await provider.verify(raw, proveHeaders(jwt), NOW));
    assert.equal(delivery.plaintext, raw);
    assert.deepEqual(delivery.replayGuard, {
      jti: 'jti-123',
      expiresAt: new Date((NOW_SECONDS + 300 + 60) * 1000),
    });
    assert.equal(delivery.correlationId, null);
    assert.equal(delivery.messageId, null);
  });

  it('uses the secret as the UTF-8 bytes of the whole string, whsec_ prefix included', async () => {
    const raw = Buffer.from(PROVE_MANAGE_SAMPLE);
    // Someone stripping the prefix would accept this token instead. The rest of this secret is not
    // base64 ("_"), so the UTF-8 bytes are its only key.
    const stripped = await signProve({ secret: SECRET.slice('whsec_'.length), body: raw, now: NOW });
    assert.equal(codeOf(await provider.verify(raw, proveHeaders(stripped), NOW)), 'invalid_signature');
    assert.equal(deliveryOf(await deliver(raw)).signingKey, 'utf8');
  });

  it('reads the Bearer scheme case-insensitively and a header given as a one-element array', async () => {
    const raw = Buffer.from(PROVE_MANAGE_SAMPLE);
    const jwt = await signProve({ secret: SECRET, body: raw, now: NOW });
    assert.equal(
      codeOf(await provider.verify(raw, { 'x-prove-authorization': `bEaReR  ${jwt} ` }, NOW)),
      'ok',
    );
    assert.equal(
      codeOf(await provider.verify(raw, { 'x-prove-authorization': [`Bearer ${jwt}`] }, NOW)),
      'ok',
    );
  });

  it('answers missing_signature without the header, with another scheme, or with an empty Bearer', async () => {
    const raw = Buffer.from(PROVE_MANAGE_SAMPLE);
    const jwt = await signProve({ secret: SECRET, body: raw, now: NOW });
    assert.equal(codeOf(await provider.verify(raw, {}, NOW)), 'missing_signature');
    assert.equal(
      codeOf(await provider.verify(raw, { authorization: `Bearer ${jwt}` }, NOW)),
      'missing_signature',
    );
    assert.equal(
      codeOf(await provider.verify(raw, { 'x-prove-authorization': `Basic ${jwt}` }, NOW)),
      'missing_signature',
    );
    assert.equal(
      codeOf(await provider.verify(raw, { 'x-prove-authorization': 'Bearer   ' }, NOW)),
      'missing_signature',
    );
  });

  it('answers invalid_signature for a token signed with another secret', async () => {
    assert.equal(
      codeOf(await deliver(PROVE_MANAGE_SAMPLE, { secret: 'whsec_someone_else' })),
      'invalid_signature',
    );
  });

  it('answers invalid_signature for an unsigned alg none token', async () => {
    const result = await deliver(PROVE_MANAGE_SAMPLE, { header: { alg: 'none' } });
    assert.equal(codeOf(result), 'invalid_signature');
  });

  it('answers invalid_signature for an HS512 token, even one made with the right secret', async () => {
    assert.equal(
      codeOf(await deliver(PROVE_MANAGE_SAMPLE, { header: { alg: 'HS512' } })),
      'invalid_signature',
    );
  });

  it('answers invalid_signature for a malformed token', async () => {
    const raw = Buffer.from(PROVE_MANAGE_SAMPLE);
    for (const token of ['not-a-jwt', 'a.b.c', 'eyJhbGciOiJIUzI1NiJ9..', '...']) {
      const result = await provider.verify(raw, { 'x-prove-authorization': `Bearer ${token}` }, NOW);
      assert.equal(codeOf(result), 'invalid_signature', token);
    }
  });

  it('answers token_expired beyond the 60 s skew and accepts a token expired within it', async () => {
    assert.equal(
      codeOf(await deliver(PROVE_MANAGE_SAMPLE, { claims: { exp: NOW_SECONDS - 61 } })),
      'token_expired',
    );
    assert.equal(codeOf(await deliver(PROVE_MANAGE_SAMPLE, { claims: { exp: NOW_SECONDS - 30 } })), 'ok');
  });

  it('answers token_not_yet_valid for nbf or iat in the future beyond the skew, accepts within it', async () => {
    const later = NOW_SECONDS + 120;
    assert.equal(
      codeOf(await deliver(PROVE_MANAGE_SAMPLE, { claims: { nbf: later } })),
      'token_not_yet_valid',
    );
    assert.equal(
      codeOf(await deliver(PROVE_MANAGE_SAMPLE, { claims: { iat: later, nbf: undefined } })),
      'token_not_yet_valid',
    );
    assert.equal(
      codeOf(
        await deliver(PROVE_MANAGE_SAMPLE, { claims: { iat: NOW_SECONDS + 30, nbf: NOW_SECONDS + 30 } }),
      ),
      'ok',
    );
  });

  it('honours the clock it is given, not the process clock', async () => {
    // Signed "now" by the real clock, checked at NOW (2025): far in the future from that point of view.
    const result = await deliver(PROVE_MANAGE_SAMPLE, { now: new Date() });
    assert.equal(codeOf(result), 'token_not_yet_valid');
  });

  it('answers invalid_signature when exp, iat, jti or body_hash is missing', async () => {
    for (const claim of ['exp', 'iat', 'jti', 'body_hash']) {
      const result = await deliver(PROVE_MANAGE_SAMPLE, { claims: { [claim]: undefined } });
      assert.equal(codeOf(result), 'invalid_signature', claim);
    }
  });

  it('answers invalid_signature for claims of the wrong type', async () => {
    assert.equal(
      codeOf(await deliver(PROVE_MANAGE_SAMPLE, { claims: { exp: 'tomorrow' } })),
      'invalid_signature',
    );
    assert.equal(codeOf(await deliver(PROVE_MANAGE_SAMPLE, { claims: { jti: 42 } })), 'invalid_signature');
    assert.equal(
      codeOf(await deliver(PROVE_MANAGE_SAMPLE, { claims: { body_hash: 7 } })),
      'invalid_signature',
    );
    assert.equal(codeOf(await deliver(PROVE_MANAGE_SAMPLE, { claims: { exp: 1e20 } })), 'invalid_signature');
    // Year 10000: a Date holds it, PostgreSQL could not store it as the token's replay deadline.
    const year10000 = Date.parse('9999-12-31T23:59:59Z') / 1000;
    assert.equal(
      codeOf(await deliver(PROVE_MANAGE_SAMPLE, { claims: { exp: year10000 } })),
      'invalid_signature',
    );
  });

  it('answers invalid_issuer for another or a missing issuer', async () => {
    assert.equal(
      codeOf(await deliver(PROVE_MANAGE_SAMPLE, { claims: { iss: 'prove identity' } })),
      'invalid_issuer',
    );
    assert.equal(
      codeOf(await deliver(PROVE_MANAGE_SAMPLE, { claims: { iss: undefined } })),
      'invalid_issuer',
    );
  });

  it('answers body_hash_mismatch for a tampered body, an uppercase or a truncated hash', async () => {
    const raw = Buffer.from(PROVE_MANAGE_SAMPLE);
    const jwt = await signProve({ secret: SECRET, body: raw, now: NOW });
    const tampered = Buffer.from(PROVE_MANAGE_SAMPLE.replace('PHONE_NUMBER_CHANGE', 'PORT'));
    assert.equal(codeOf(await provider.verify(tampered, proveHeaders(jwt), NOW)), 'body_hash_mismatch');
    // One extra trailing newline is a different body, too: the hash covers the exact bytes.
    const newline = Buffer.concat([raw, Buffer.from('\n')]);
    assert.equal(codeOf(await provider.verify(newline, proveHeaders(jwt), NOW)), 'body_hash_mismatch');
    const upper = proveBodyHash(raw).toUpperCase();
    assert.equal(codeOf(await deliver(raw, { claims: { body_hash: upper } })), 'body_hash_mismatch');
    const short = proveBodyHash(raw).slice(0, 32);
    assert.equal(codeOf(await deliver(raw, { claims: { body_hash: short } })), 'body_hash_mismatch');
  });

  it('passes X-Correlation-ID through, trimmed and capped at 200 characters', async () => {
    const passed = deliveryOf(await deliver(PROVE_MANAGE_SAMPLE, {}, { 'x-correlation-id': '  corr-42 ' }));
    assert.equal(passed.correlationId, 'corr-42');
    const long = deliveryOf(await deliver(PROVE_MANAGE_SAMPLE, {}, { 'x-correlation-id': 'x'.repeat(500) }));
    assert.equal(long.correlationId, 'x'.repeat(200));
    const blank = deliveryOf(await deliver(PROVE_MANAGE_SAMPLE, {}, { 'x-correlation-id': '   ' }));
    assert.equal(blank.correlationId, null);
  });
});

/** A Prove-style token signed under raw key bytes (signProve signs under a string's UTF-8 bytes). */
async function signWithKeyBytes(key: Uint8Array, raw: Buffer, claims: Record<string, unknown> = {}) {
  return new SignJWT({
    iss: 'Prove Identity',
    iat: NOW_SECONDS,
    nbf: NOW_SECONDS,
    exp: NOW_SECONDS + 300,
    jti: randomUUID(),
    body_hash: proveBodyHash(raw),
    ...claims,
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(key);
}

describe('prove verify: the keys one whsec_ secret stands for', () => {
  const keyBytes = randomBytes(24);
  const secret = `whsec_${keyBytes.toString('base64')}`;
  const svixStyle = proveProvider({ secret });
  const raw = Buffer.from(PROVE_MANAGE_SAMPLE);
  const verify = async (token: string) => svixStyle.verify(raw, proveHeaders(token), NOW);

  it('accepts a token under the UTF-8 bytes of the whole string, and says so', async () => {
    const token = await signProve({ secret, body: raw, now: NOW });
    assert.equal(deliveryOf(await verify(token)).signingKey, 'utf8');
  });

  it('accepts a token under the base64-decoded rest after whsec_, and says so', async () => {
    const token = await signWithKeyBytes(keyBytes, raw);
    assert.equal(deliveryOf(await verify(token)).signingKey, 'base64');
  });

  it('refuses a token under neither key with invalid_signature', async () => {
    for (const key of [randomBytes(24), Buffer.from(secret.slice('whsec_'.length))]) {
      assert.equal(codeOf(await verify(await signWithKeyBytes(key, raw))), 'invalid_signature');
    }
  });

  it('checks the claims of a token under the second key as under the first', async () => {
    const expired = await signWithKeyBytes(keyBytes, raw, { exp: NOW_SECONDS - 61 });
    assert.equal(codeOf(await verify(expired)), 'token_expired');
    const foreign = await signWithKeyBytes(keyBytes, raw, { iss: 'Someone Else' });
    assert.equal(codeOf(await verify(foreign)), 'invalid_issuer');
    const tampered = await signWithKeyBytes(keyBytes, Buffer.from(`${PROVE_MANAGE_SAMPLE} `));
    assert.equal(codeOf(await verify(tampered)), 'body_hash_mismatch');
  });

  it('derives one key only from a secret without whsec_, or whose rest is not base64 of 16 bytes or more', async () => {
    const names = (s: string) => proveSigningKeys(s).map((k) => k.name);
    assert.deepEqual(names(secret), ['utf8', 'base64']);
    assert.deepEqual(names(keyBytes.toString('base64')), ['utf8']);
    assert.deepEqual(names(SECRET), ['utf8']);
    assert.deepEqual(names(`whsec_${randomBytes(15).toString('base64')}`), ['utf8']);
    assert.deepEqual(names(`whsec_${randomBytes(24).toString('base64url')}!`), ['utf8']);
    // Without the prefix the decoded bytes are no key: a token under them is refused.
    const unprefixed = proveProvider({ secret: keyBytes.toString('base64') });
    const token = await signWithKeyBytes(keyBytes, raw);
    assert.equal(codeOf(await unprefixed.verify(raw, proveHeaders(token), NOW)), 'invalid_signature');
  });
});

describe('prove parse', () => {
  it('reads the Identity Manager example with eventID/identityID/eventTimeStamp/LINETYPE_CHANGE spellings', async () => {
    const result = await parseBody(PROVE_IDENTITY_MANAGER_SAMPLE);
    assert.ok(result.ok);
    assert.deepEqual(result.rejected, []);
    assert.deepEqual(
      result.events.map((event) => [event.type, event.rawType]),
      [
        ['PHONE_NUMBER_CHANGE', 'PHONE_NUMBER_CHANGE'],
        ['DISCONNECT', 'DISCONNECT'],
        ['PORT', 'PORT'],
        ['LINE_TYPE_CHANGE', 'LINETYPE_CHANGE'],
        ['MOVED_OUT_OF_COVERAGE', 'MOVED_OUT_OF_COVERAGE'],
      ],
    );
    for (const event of result.events) {
      assert.equal(event.provider, 'PROVE');
      assert.equal(event.providerEventId, 'c3702333-ddd0-4aad-8f8f-c2813c1dd253');
      assert.equal(event.providerIdentityId, '81d3829a-7207-4fd7-9a78-2dbf33fd54ad');
      assert.equal(event.clientCustomerId, 'c3702333-ddd0-4aad-8f8f-c2813c1dd253');
      assert.deepEqual(event.occurredAt, new Date('2025-01-23T10:11:12Z'));
      assert.equal(event.verificationStatus, null);
    }
    assert.equal(result.events[0]?.description, 'phone number change detected');
    assert.equal(result.events[2]?.newCarrier, 'AT&T Wireless');
    assert.equal(result.events[2]?.newLineType, null);
    assert.equal(result.events[3]?.newLineType, 'Mobile');
    assert.equal(result.events[3]?.newCarrier, null);
  });

  it('reads the Manage example, whose identity id is named proveId', async () => {
    const result = await parseBody(PROVE_MANAGE_SAMPLE);
    assert.ok(result.ok);
    assert.equal(result.events.length, 1);
    assert.equal(result.events[0]?.providerIdentityId, '81d3829a-7207-4fd7-9a78-2dbf33fd54ad');
    assert.equal(result.events[0]?.type, 'PHONE_NUMBER_CHANGE');
  });

  it('reads the Verified Users example, one event per notification with its own ids', async () => {
    const result = await parseBody(PROVE_VERIFIED_USERS_SAMPLE);
    assert.ok(result.ok);
    assert.deepEqual(
      result.events.map((event) => [event.providerEventId, event.providerIdentityId, event.type]),
      [
        [
          '6ab42d26-8ed2-453f-a4a4-ac305aa50332',
          '64ec34e4-6b91-427c-839c-b443dd1570fc',
          'PHONE_NUMBER_CHANGE',
        ],
        ['0c07d8e3-185c-4b5b-a27b-71ad9ee916b1', 'b479a9cb-4dbd-424f-b51e-e4e5bdef8541', 'DISCONNECT'],
        [
          'cbb5f37f-d8e2-4044-955e-a5beec4ddf63',
          'c3a1a59f-d255-4293-b167-9d007b40db6f',
          'MOVED_OUT_OF_COVERAGE',
        ],
      ],
    );
  });

  it('refuses more than 100 notifications as a whole, with the count in the message', async () => {
    const result = await parseBody(
      bodyWith(Array.from({ length: 101 }, (_, i) => notification({ eventId: `e${i}` }))),
    );
    assert.deepEqual(result, {
      ok: false,
      message: 'notifications must be an array of at most 100 items, got 101',
    });
  });

  it('accepts exactly 100 notifications', async () => {
    const result = await parseBody(
      bodyWith(Array.from({ length: 100 }, (_, i) => notification({ eventId: `e${i}` }))),
    );
    assert.ok(result.ok);
    assert.equal(result.events.length, 100);
  });

  it('reads an empty notifications list as a test ping, with nothing to store', async () => {
    assert.deepEqual(await parseBody(bodyWith([])), { ok: true, events: [], rejected: [], test: true });
  });

  it('refuses a body that is not JSON, without echoing it', async () => {
    const result = await parseBody('{"notifications": [ oops');
    assert.deepEqual(result, { ok: false, message: 'body is not valid JSON' });
  });

  it('refuses a body without a notifications array', async () => {
    assert.deepEqual(await parseBody('{"events": []}'), {
      ok: false,
      message: 'notifications must be an array of at most 100 items, got no notifications field',
    });
    assert.deepEqual(await parseBody('{"notifications": {"eventId": "x"}}'), {
      ok: false,
      message: 'notifications must be an array of at most 100 items, got object',
    });
    assert.deepEqual(await parseBody('[]'), {
      ok: false,
      message: 'body must be a JSON object with a notifications array, got array',
    });
  });

  it('rejects a notification without an identity id and keeps the others', async () => {
    const missing = notification({ eventId: 'e2', identityId: undefined });
    const result = await parseBody(
      bodyWith([notification({ eventId: 'e1' }), missing, notification({ eventId: 'e3' })]),
    );
    assert.ok(result.ok);
    assert.deepEqual(
      result.events.map((event) => event.providerEventId),
      ['e1', 'e3'],
    );
    assert.equal(result.rejected.length, 1);
    assert.equal(result.rejected[0]?.index, 1);
    assert.equal(result.rejected[0]?.reason, 'identityId / identityID / proveId is missing');
    assert.deepEqual(result.rejected[0]?.raw, JSON.parse(JSON.stringify(missing)));
  });

  it('rejects a notification without an event id, or one that is not an object', async () => {
    const result = await parseBody(bodyWith([notification({ eventId: '' }), 'PORT', null, notification()]));
    assert.ok(result.ok);
    assert.equal(result.events.length, 1);
    assert.deepEqual(
      result.rejected.map((item) => [item.index, item.reason]),
      [
        [0, 'eventId / eventID is missing'],
        [1, 'notification must be a JSON object, got string'],
        [2, 'notification must be a JSON object, got null'],
      ],
    );
  });

  it('rejects notifications whose timestamp is missing or not an ISO 8601 date-time', async () => {
    const bad = [
      'yesterday',
      '2025-02-30T10:11:12Z',
      '2025-01-23 10:11:12Z',
      '2025-01-23T10:11:12',
      '2025-13-01T00:00:00Z',
      1737627072,
    ];
    const items = [
      notification({ eventTimestamp: undefined }),
      ...bad.map((eventTimestamp) => notification({ eventTimestamp })),
    ];
    const result = await parseBody(bodyWith(items));
    assert.ok(result.ok);
    assert.equal(result.events.length, 0);
    assert.equal(result.rejected.length, items.length);
    assert.equal(result.rejected[0]?.reason, 'eventTimestamp / eventTimeStamp is missing');
    assert.equal(
      result.rejected[1]?.reason,
      'eventTimestamp / eventTimeStamp must be an ISO 8601 date-time with a time zone, got "yesterday"',
    );
    assert.equal(result.rejected[6]?.reason, 'eventTimestamp must be a string, got number');
  });

  it('rejects a timestamp outside the years 0001 to 9999 in UTC, which PostgreSQL cannot store', async () => {
    const outside = ['0000-01-01T00:00:00Z', '0001-01-01T00:30:00+01:00', '9999-12-31T23:30:00-01:00'];
    const inside = ['0001-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z'];
    const items = [...outside, ...inside].map((eventTimestamp, i) =>
      notification({ eventId: `e${i}`, eventTimestamp }),
    );
    const result = await parseBody(bodyWith(items));
    assert.ok(result.ok);
    assert.deepEqual(
      result.events.map((e) => e.occurredAt.toISOString()),
      ['0001-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z'],
    );
    assert.deepEqual(
      result.rejected.map((r) => r.reason),
      outside.map(
        (t) => `eventTimestamp / eventTimeStamp must be between 0001-01-01 and 9999-12-31 (UTC), got "${t}"`,
      ),
    );
  });

  it('reads ISO 8601 offsets and fractions to the right instant', async () => {
    const stamps = [
      '2025-01-23T05:11:12.5-05:00',
      '2025-01-23T11:11:12.500+0100',
      '2025-01-23T10:11:12.500123Z',
    ];
    const result = await parseBody(
      bodyWith(stamps.map((eventTimestamp) => notification({ eventTimestamp }))),
    );
    assert.ok(result.ok);
    for (const event of result.events)
      assert.deepEqual(event.occurredAt, new Date('2025-01-23T10:11:12.500Z'));
  });

  it('keeps an unknown event type as UNKNOWN with its raw value', async () => {
    const result = await parseBody(bodyWith([notification({ eventType: 'SIM_SWAP' })]));
    assert.ok(result.ok);
    assert.equal(result.events[0]?.type, 'UNKNOWN');
    assert.equal(result.events[0]?.rawType, 'SIM_SWAP');
  });

  it('rejects a notification with an id over 200 characters or an optional field of the wrong type', async () => {
    const result = await parseBody(
      bodyWith([
        notification({ identityId: 'i'.repeat(201) }),
        notification({ newCarrier: 5 }),
        notification(),
      ]),
    );
    assert.ok(result.ok);
    assert.equal(result.events.length, 1);
    assert.deepEqual(
      result.rejected.map((item) => item.reason),
      ['identityId must be at most 200 characters, got 201', 'newCarrier must be a string, got number'],
    );
  });

  it('never throws on random bytes, signed or not', async () => {
    for (let i = 0; i < 200; i++) {
      const raw = randomBytes(1 + (i % 64) * 4);
      const unsigned = await provider.verify(
        raw,
        { 'x-prove-authorization': `Bearer ${raw.toString('latin1')}` },
        NOW,
      );
      assert.equal(unsigned.ok, false);
      const signed = deliveryOf(await deliver(raw));
      const parsed = provider.parse(signed);
      assert.equal(parsed.ok, false);
    }
  });
});
