import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  type ProveGatewayOptions,
  parseRetryAfter,
  proveBaseUrl,
  proveGateway,
  toProvePhoneNumber,
} from '../../src/enrollment/prove-client.js';
import { type ProveGateway, ProviderUnavailableError } from '../../src/enrollment/prove-gateway.js';
import { sandboxGateway } from '../../src/enrollment/sandbox-gateway.js';
import { type FakeProve, startFakeProve } from '../fixtures/fake-prove.js';
import { freePort } from '../helpers/process.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Awaits `promise`, asserting it rejects with a ProviderUnavailableError, and returns that error. */
async function providerError(promise: Promise<unknown>): Promise<ProviderUnavailableError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(
      err instanceof ProviderUnavailableError,
      `expected ProviderUnavailableError, got ${String(err)}`,
    );
    assert.equal(err.code, 'PROVIDER_UNAVAILABLE');
    return err;
  }
  assert.fail('expected a ProviderUnavailableError, but the call succeeded');
}

describe('proveBaseUrl', () => {
  it('maps the four Prove environments to their platform URLs', () => {
    assert.equal(proveBaseUrl('uat-us'), 'https://platform.uat.proveapis.com');
    assert.equal(proveBaseUrl('prod-us'), 'https://platform.proveapis.com');
    assert.equal(proveBaseUrl('uat-eu'), 'https://platform.uat.eu.proveapis.com');
    assert.equal(proveBaseUrl('prod-eu'), 'https://platform.eu.proveapis.com');
  });

  it('takes an http(s) base URL as is, without its trailing slash', () => {
    assert.equal(proveBaseUrl('http://127.0.0.1:4010/'), 'http://127.0.0.1:4010');
    assert.equal(proveBaseUrl('https://proxy.example.com/prove'), 'https://proxy.example.com/prove');
  });

  it('refuses anything else with an error naming PROVE_ENV', () => {
    for (const bad of [
      'staging',
      '',
      'ftp://example.com',
      'https://user:pw@example.com',
      'https://x.test/?a=1',
    ]) {
      assert.throws(() => proveBaseUrl(bad), /PROVE_ENV/, bad);
    }
  });
});

describe('helpers', () => {
  it('sends US numbers to Prove as 10 national digits', () => {
    assert.equal(toProvePhoneNumber('+12001004031'), '2001004031');
    assert.equal(toProvePhoneNumber('+442071838750'), '+442071838750');
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    assert.equal(parseRetryAfter('2', now), 2000);
    assert.equal(parseRetryAfter('0', now), 0);
    assert.equal(parseRetryAfter('1.5', now), 1500);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:03 GMT', now), 3000);
    assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now), 0);
    assert.equal(parseRetryAfter('-1', now), null);
    assert.equal(parseRetryAfter('soon', now), null);
    assert.equal(parseRetryAfter(null, now), null);
  });
});

describe('sandboxGateway', () => {
  it('enrolls with fresh local ids and always succeeds', async () => {
    const gateway = sandboxGateway();
    assert.equal(gateway.mode, 'sandbox');
    const a = await gateway.enroll({ phoneNumber: '+12001004031', clientCustomerId: 'c-1' });
    const b = await gateway.enroll({ phoneNumber: '+12001004031', clientCustomerId: null });
    assert.match(a.proveId, UUID);
    assert.notEqual(a.proveId, b.proveId);
    const items = [1, 2, 3].map((i) => ({ phoneNumber: `+1200100403${i}`, clientCustomerId: `c-${i}` }));
    const results = await gateway.batchEnroll(items);
    assert.equal(results.length, 3);
    assert.ok(results.every((r) => r.ok && UUID.test(r.proveId)));
    await gateway.deactivate(a.proveId);
    await gateway.activate(a.proveId);
  });
});

describe('proveGateway against a fake Prove API', () => {
  let fake: FakeProve;
  const gatewayFor = (extra: Partial<ProveGatewayOptions> = {}): ProveGateway =>
    proveGateway({ clientId: fake.clientId, clientSecret: fake.clientSecret, baseUrl: fake.url, ...extra });
  const enrollOne = (gateway: ProveGateway, phoneNumber = '+12001004031') =>
    gateway.enroll({ phoneNumber, clientCustomerId: 'customer-123' });

  before(async () => {
    fake = await startFakeProve({ clientId: 'test-client', clientSecret: 'test-secret-s3cr3t' });
  });
  after(() => fake.close());
  beforeEach(() => fake.reset());

  describe('enroll', () => {
    it('posts the 10-digit number and clientCustomerId with a Bearer token and returns the proveId', async () => {
      const gateway = gatewayFor();
      assert.equal(gateway.mode, 'prove');
      const { proveId } = await enrollOne(gateway);
      assert.match(proveId, UUID);
      const [tokenRequest, call] = fake.requests;
      assert.deepEqual(tokenRequest?.body, {
        grant_type: 'client_credentials',
        client_id: 'test-client',
        client_secret: 'test-secret-s3cr3t',
      });
      assert.equal(call?.method, 'POST');
      assert.equal(call?.path, '/v3/identity');
      assert.deepEqual(call?.body, { phoneNumber: '2001004031', clientCustomerId: 'customer-123' });
      assert.equal(call?.authorization, `Bearer ${fake.issuedTokens[0]}`);
      assert.equal(fake.identities.get(proveId)?.active, true);
    });

    it('leaves clientCustomerId out when there is none', async () => {
      await gatewayFor().enroll({ phoneNumber: '+12001004031', clientCustomerId: null });
      assert.deepEqual(fake.apiRequests[0]?.body, { phoneNumber: '2001004031' });
    });

    it('accepts the legacy identityId answer', async () => {
      fake.legacyIdentityId = true;
      const { proveId } = await enrollOne(gatewayFor());
      assert.ok(fake.identities.has(proveId));
    });

    it('treats success: false as a provider failure', async () => {
      fake.failNext(1, 200, { proveId: 'x', success: false });
      const err = await providerError(enrollOne(gatewayFor()));
      assert.match(err.message, /success: false/);
    });

    it('treats a 2xx with a malformed body as a provider failure', async () => {
      const gateway = gatewayFor();
      fake.failNext(1, 200, 'not json');
      assert.match((await providerError(enrollOne(gateway))).message, /unexpected body/);
      fake.failNext(1, 200, { success: true });
      assert.match((await providerError(enrollOne(gateway))).message, /unexpected body/);
      fake.failNext(1, 200, { proveId: 42, success: true });
      assert.match((await providerError(enrollOne(gateway))).message, /unexpected body/);
    });

    it("reports Prove's status, short message and numeric error code on an error answer", async () => {
      fake.failNext(1, 500, { code: 8002, message: 'boom' });
      const err = await providerError(enrollOne(gatewayFor()));
      assert.equal(err.message, 'Prove answered 500 (internal server error): boom');
      assert.equal(err.status, 500);
      assert.equal(err.providerCode, '8002');
    });

    it('drops an error code that is neither an integer nor a short word', async () => {
      for (const code of [1.5, { nested: 1 }, 'has spaces in it', 1e300]) {
        fake.failNext(1, 400, { code, message: 'bad' });
        const err = await providerError(enrollOne(gatewayFor()));
        assert.equal(err.providerCode, undefined, JSON.stringify(code));
      }
    });

    it('reports an unreachable Prove as unavailable', async () => {
      const gateway = gatewayFor({ baseUrl: `http://127.0.0.1:${await freePort()}` });
      const err = await providerError(enrollOne(gateway));
      assert.match(err.message, /^Prove could not be reached/);
    });
  });

  describe('access token', () => {
    it('fetches one token for 20 concurrent calls and reuses it afterwards', async () => {
      const gateway = gatewayFor();
      const phones = Array.from({ length: 20 }, (_, i) => `+1200100${String(4000 + i)}`);
      const ids = await Promise.all(phones.map((phone) => enrollOne(gateway, phone)));
      for (let i = 0; i < 5; i++) await enrollOne(gateway);
      assert.equal(new Set(ids.map((r) => r.proveId)).size, 20);
      assert.equal(fake.tokenRequests, 1);
      assert.equal(fake.apiRequests.length, 25);
    });

    it('renews the token a minute before it expires', async () => {
      let clock = 1_000_000;
      const gateway = gatewayFor({ now: () => clock });
      await enrollOne(gateway);
      clock += 3539_000; // 61 s before expiry: still good
      await enrollOne(gateway);
      assert.equal(fake.tokenRequests, 1);
      clock += 2_000; // 59 s before expiry: renew
      await enrollOne(gateway);
      assert.equal(fake.tokenRequests, 2);
      const [first, , third] = fake.apiRequests;
      assert.notEqual(first?.authorization, third?.authorization);
    });

    it('does not renew on every call when a token lives less than the margin', async () => {
      fake.expiresIn = 30;
      const gateway = gatewayFor();
      await enrollOne(gateway);
      await enrollOne(gateway);
      assert.equal(fake.tokenRequests, 1);
    });

    it('on a 401 fetches one new token and retries the call once', async () => {
      const logged: string[] = [];
      const gateway = gatewayFor({
        logger: { warn: (obj, msg) => logged.push(`${JSON.stringify(obj)} ${msg}`) },
      });
      await enrollOne(gateway);
      fake.expireToken(fake.issuedTokens[0]!);
      await Promise.all([1, 2, 3, 4, 5].map((i) => enrollOne(gateway, `+120010040${i}0`)));
      assert.equal(fake.tokenRequests, 2, 'concurrent 401s share one renewal');
      assert.equal(fake.apiRequests.length, 11);
      const retried = fake.apiRequests.slice(6);
      assert.ok(retried.every((r) => r.authorization === `Bearer ${fake.issuedTokens[1]}`));
      assert.ok(logged.length > 0);
      for (const line of logged) {
        assert.ok(!line.includes('test-secret-s3cr3t') && !fake.issuedTokens.some((t) => line.includes(t)));
      }
    });

    it('gives up after a second 401', async () => {
      fake.failNext(2, 401, { code: 8001, message: 'Token expired' });
      const err = await providerError(enrollOne(gatewayFor()));
      assert.equal(err.message, 'Prove answered 401 (unauthorized): Token expired');
      assert.equal(fake.tokenRequests, 2);
      assert.equal(fake.apiRequests.length, 2);
    });

    it('reports wrong credentials without the secret or any token', async () => {
      const gateway = proveGateway({
        clientId: 'test-client',
        clientSecret: 'wrong-secret-XYZ',
        baseUrl: fake.url,
      });
      const err = await providerError(enrollOne(gateway));
      assert.match(err.message, /401 \(unauthorized\)/);
      assert.ok(!err.message.includes('wrong-secret-XYZ'));
      assert.ok(!err.message.includes('test-secret-s3cr3t'));
      assert.equal(fake.apiRequests.length, 0);
    });

    it('redacts the secret or a token that Prove echoes in an error message', async () => {
      const gateway = gatewayFor();
      fake.failNext(1, 400, { code: 1001, message: 'client_secret test-secret-s3cr3t refused' }, 'token');
      const secretErr = await providerError(enrollOne(gateway));
      assert.ok(!secretErr.message.includes('test-secret-s3cr3t'), secretErr.message);
      await enrollOne(gateway);
      const token = fake.issuedTokens[0]!;
      fake.failNext(1, 400, { code: 1001, message: `token ${token} not allowed here` });
      const tokenErr = await providerError(enrollOne(gateway));
      assert.ok(!tokenErr.message.includes(token), tokenErr.message);
      assert.match(tokenErr.message, /\[redacted\]/);
    });
  });

  describe('rate limiting and timeouts', () => {
    it('honours Retry-After on a 429 and then succeeds', async () => {
      const gateway = gatewayFor();
      await enrollOne(gateway); // token fetched outside the measurement
      fake.rateLimitNext(1, '1');
      const started = performance.now();
      await enrollOne(gateway);
      const waited = performance.now() - started;
      assert.ok(waited >= 995, `waited ${waited.toFixed(0)} ms`);
      assert.ok(waited < 3000, `waited ${waited.toFixed(0)} ms`);
      assert.equal(fake.apiRequests.length, 3);
    });

    it('gives up after 3 retries of a 429', async () => {
      fake.rateLimitNext(4, '0');
      const err = await providerError(enrollOne(gatewayFor()));
      assert.match(err.message, /429/);
      assert.equal(err.status, 429);
      assert.equal(fake.apiRequests.length, 4);
    });

    it('gives up at once when Retry-After exceeds the 10 s budget', async () => {
      fake.rateLimitNext(1, '30');
      const started = performance.now();
      await providerError(enrollOne(gatewayFor()));
      assert.ok(performance.now() - started < 1000);
      assert.equal(fake.apiRequests.length, 1);
    });

    it('times out a slow answer', async () => {
      fake.delayNext(1, 2000);
      const started = performance.now();
      const err = await providerError(enrollOne(gatewayFor({ timeoutMs: 200 })));
      assert.equal(err.message, 'Prove did not answer within 0.2 s');
      assert.ok(performance.now() - started < 1500);
    });
  });

  describe('batchEnroll', () => {
    it('returns one result per item in input order, with the failing item alone failed', async () => {
      fake.invalidPhoneNumbers.add('+12001004035');
      const results = await gatewayFor().batchEnroll([
        { phoneNumber: '+12001004031', clientCustomerId: 'customer-123' },
        { phoneNumber: '+12001004035', clientCustomerId: 'customer-124' },
        { phoneNumber: '+12001004032', clientCustomerId: null },
      ]);
      assert.equal(results.length, 3);
      const [first, second, third] = results;
      assert.ok(first?.ok && third?.ok);
      assert.deepEqual(second, { ok: false, code: 'INVALID_PHONE_NUMBER', message: 'Invalid Phone Number' });
      assert.equal(fake.identities.get(first.proveId)?.clientCustomerId, 'customer-123');
      assert.equal(fake.identities.get(third.proveId)?.phoneNumber, '2001004032');
      const call = fake.apiRequests[0];
      assert.equal(call?.path, '/v3/identity/batch');
      assert.deepEqual(call?.body, {
        items: [
          { phoneNumber: '2001004031', clientCustomerId: 'customer-123' },
          { phoneNumber: '2001004035', clientCustomerId: 'customer-124' },
          { phoneNumber: '2001004032' },
        ],
      });
    });

    it('accepts legacy identityId in batch results', async () => {
      fake.legacyIdentityId = true;
      const [result] = await gatewayFor().batchEnroll([
        { phoneNumber: '+12001004031', clientCustomerId: null },
      ]);
      assert.ok(result?.ok && fake.identities.has(result.proveId));
    });

    it('treats a results array of the wrong length as a provider failure', async () => {
      fake.failNext(1, 200, { results: [{ proveId: 'only-one' }] });
      const items = [
        { phoneNumber: '+12001004031', clientCustomerId: null },
        { phoneNumber: '+12001004032', clientCustomerId: null },
      ];
      const err = await providerError(gatewayFor().batchEnroll(items));
      assert.match(err.message, /1 batch results for 2 items/);
    });

    it('sends nothing for an empty batch and refuses more than 100 items', async () => {
      const gateway = gatewayFor();
      assert.deepEqual(await gateway.batchEnroll([]), []);
      assert.equal(fake.requests.length, 0);
      const tooMany = Array.from({ length: 101 }, () => ({
        phoneNumber: '+12001004031',
        clientCustomerId: null,
      }));
      await assert.rejects(gateway.batchEnroll(tooMany), RangeError);
      assert.equal(fake.requests.length, 0);
    });
  });

  describe('deactivate and activate', () => {
    it('post to the identity paths and toggle the identity', async () => {
      const gateway = gatewayFor();
      const { proveId } = await enrollOne(gateway);
      await gateway.deactivate(proveId);
      assert.equal(fake.identities.get(proveId)?.active, false);
      await gateway.activate(proveId);
      assert.equal(fake.identities.get(proveId)?.active, true);
      const paths = fake.apiRequests.slice(1).map((r) => `${r.method} ${r.path}`);
      assert.deepEqual(paths, [
        `POST /v3/identity/${proveId}/deactivate`,
        `POST /v3/identity/${proveId}/activate`,
      ]);
    });

    it("send a JSON body ({}) with content-type application/json, as Prove's SDKs do", async () => {
      const gateway = gatewayFor();
      const { proveId } = await enrollOne(gateway);
      await gateway.deactivate(proveId);
      await gateway.activate(proveId);
      for (const call of fake.apiRequests.slice(1)) {
        assert.equal(call.contentType, 'application/json', call.path);
        assert.deepEqual(call.body, {}, call.path);
      }
    });

    it('are refused by the fake without a JSON body (400, a numeric code); an unknown proveId keeps its code', async () => {
      const gateway = gatewayFor();
      const { proveId } = await enrollOne(gateway);
      const token = fake.issuedTokens[0]!;
      const bare = await fetch(`${fake.url}/v3/identity/${proveId}/deactivate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(bare.status, 400);
      assert.equal(typeof ((await bare.json()) as { code: unknown }).code, 'number');
      assert.equal(fake.identities.get(proveId)?.active, true);
      const err = await providerError(gateway.deactivate('unknown-id'));
      assert.equal(err.status, 404);
      assert.match(err.providerCode ?? '', /^\d+$/);
    });

    it('URL-encodes the proveId and reports an unknown one as 404', async () => {
      const err = await providerError(gatewayFor().deactivate('no/such id'));
      assert.equal(err.message, 'Prove answered 404 (not found): Identity not found');
      assert.equal(fake.apiRequests[0]?.path, '/v3/identity/no%2Fsuch%20id/deactivate');
    });

    it('treats success: false as a provider failure', async () => {
      const gateway = gatewayFor();
      const { proveId } = await enrollOne(gateway);
      fake.failNext(1, 200, { success: false });
      assert.match((await providerError(gateway.activate(proveId))).message, /success: false/);
      fake.failNext(1, 200, {});
      assert.match((await providerError(gateway.deactivate(proveId))).message, /unexpected body/);
    });
  });
});
