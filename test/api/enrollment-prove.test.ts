import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { type FakeProve, startFakeProve } from '../fixtures/fake-prove.js';
import {
  batchEnroll,
  codeOf,
  DEACTIVATE,
  enroll,
  enrollOk,
  eventsOf,
  type IdentityView,
  REACTIVATE,
} from '../helpers/enrollment.js';
import { clearData } from '../helpers/seed.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const proveEnv = (fake: FakeProve, url = fake.url) => ({
  PROVE_CLIENT_ID: fake.clientId,
  PROVE_CLIENT_SECRET: fake.clientSecret,
  PROVE_ENV: url,
});

describe('enrollment mutations with Prove credentials (fake Prove on loopback)', () => {
  let fake: FakeProve;
  let s: TestServer;
  before(async () => {
    fake = await startFakeProve();
    s = await startTestServer({ env: proveEnv(fake) });
  });
  after(async () => {
    await s.close();
    await fake.close();
  });
  // The fake is not reset between tests: that would revoke the token the server has cached.
  let mark = 0;
  beforeEach(async () => {
    await clearData(s.app.db);
    fake.invalidPhoneNumbers.clear();
    fake.legacyIdentityId = false;
    mark = fake.requests.length;
  });
  /** This test's calls to Prove's /v3 API. */
  const apiCalls = () => fake.requests.slice(mark).filter((r) => r.path.startsWith('/v3/'));

  const identityCount = async () =>
    Number(((await s.app.db.query('SELECT count(*) AS n FROM identities')) as { n: string }[])[0]?.n);
  const deactivate = (id: string) => s.gql<{ deactivateIdentity: IdentityView }>(DEACTIVATE, { id });
  const reactivate = (id: string) => s.gql<{ reactivateIdentity: IdentityView }>(REACTIVATE, { id });

  it("sends the 10-digit number and clientCustomerId to Prove and stores Prove's proveId", async () => {
    const identity = await enrollOk(s.gql, { phoneNumber: '+1 (202) 555-0123', clientCustomerId: 'p-1' });
    assert.deepEqual(
      apiCalls().map((r) => [r.method, r.path, r.body]),
      [['POST', '/v3/identity', { phoneNumber: '2025550123', clientCustomerId: 'p-1' }]],
    );
    assert.ok(fake.identities.has(identity.providerIdentityId!), 'the proveId Prove answered');
    assert.deepEqual(
      [identity.phoneNumber, identity.status, identity.clientCustomerId],
      ['+12025550123', 'ACTIVE', 'p-1'],
    );
    assert.deepEqual(
      (await eventsOf(s.gql, identity.id, 1)).map((e) => [e.type, e.provider]),
      [['ENROLLED', 'PROVE']],
    );
  });

  it('accepts the legacy identityId answer and omits clientCustomerId when none is given', async () => {
    fake.legacyIdentityId = true;
    const identity = await enrollOk(s.gql, { phoneNumber: '2025550123' });
    assert.deepEqual(apiCalls()[0]?.body, { phoneNumber: '2025550123' });
    assert.ok(fake.identities.has(identity.providerIdentityId!));
  });

  it('does not call Prove for an invalid number or an already enrolled customer', async () => {
    const first = await enrollOk(s.gql, { phoneNumber: '2025550123', clientCustomerId: 'once' });
    mark = fake.requests.length;
    assert.equal(codeOf(await enroll(s.gql, { phoneNumber: '12345' })), 'INVALID_PHONE_NUMBER');
    const again = await enroll(s.gql, { phoneNumber: '2025550123', clientCustomerId: 'once' });
    assert.equal(codeOf(again), 'ALREADY_ENROLLED');
    assert.equal(again.body.errors?.[0]?.extensions?.existingIdentityId, first.id);
    assert.equal(fake.requests.length, mark);
  });

  it('answers INVALID_PHONE_NUMBER when Prove refuses the number, and stores nothing', async () => {
    fake.invalidPhoneNumbers.add('2025550199');
    const res = await enroll(s.gql, { phoneNumber: '2025550199', clientCustomerId: 'refused' });
    assert.equal(codeOf(res), 'INVALID_PHONE_NUMBER');
    assert.match(res.body.errors?.[0]?.message ?? '', /Invalid Phone Number/);
    assert.equal(await identityCount(), 0);
  });

  it('answers PROVIDER_UNAVAILABLE when Prove answers 500, and stores nothing', async () => {
    fake.failNext(1, 500);
    const res = await enroll(s.gql, { phoneNumber: '2025550123', clientCustomerId: 'down' });
    assert.equal(codeOf(res), 'PROVIDER_UNAVAILABLE');
    assert.match(res.body.errors?.[0]?.message ?? '', /Prove answered 500/);
    assert.doesNotMatch(JSON.stringify(res.body), new RegExp(fake.clientSecret));
    assert.equal(await identityCount(), 0);
  });

  it('answers PROVIDER_UNAVAILABLE when Prove cannot be reached, and stores nothing', async () => {
    const down = await startTestServer({
      env: proveEnv(fake, `http://127.0.0.1:${await closedPort()}`),
      database: s.database,
    });
    try {
      const res = await enroll(down.gql, { phoneNumber: '2025550123', clientCustomerId: 'unreachable' });
      assert.equal(codeOf(res), 'PROVIDER_UNAVAILABLE');
      assert.match(res.body.errors?.[0]?.message ?? '', /Prove could not be reached/);
      const batch = await batchEnroll(down.gql, [
        { phoneNumber: '2025550123' },
        { provider: 'VOVE', providerIdentityId: 'local-only' },
      ]);
      assert.deepEqual(
        batch.body.data?.batchEnrollIdentities.results.map((r) => r.error?.code ?? null),
        ['PROVIDER_UNAVAILABLE', null],
        'VOVE enrollment is local and goes on',
      );
      assert.equal(await identityCount(), 1);
    } finally {
      await down.close();
    }
  });

  it("batch: calls Prove once with the PROVE items and maps Prove's per-item Invalid Phone Number", async () => {
    fake.invalidPhoneNumbers.add('2025550102');
    const res = await batchEnroll(s.gql, [
      { phoneNumber: '2025550101', clientCustomerId: 'b-0' },
      { phoneNumber: '2025550102', clientCustomerId: 'b-1' },
      { provider: 'VOVE', providerIdentityId: 'v-2' },
      { phoneNumber: 'nope', clientCustomerId: 'b-3' },
      { phoneNumber: '+12025550104', clientCustomerId: 'b-4' },
    ]);
    assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
    const payload = res.body.data!.batchEnrollIdentities;
    assert.deepEqual(
      payload.results.map((r) => [r.index, r.error?.code ?? null]),
      [
        [0, null],
        [1, 'INVALID_PHONE_NUMBER'],
        [2, null],
        [3, 'INVALID_PHONE_NUMBER'],
        [4, null],
      ],
    );
    assert.match(
      payload.results[1]?.error?.message ?? '',
      /Prove refused the phone number: Invalid Phone Number/,
    );
    assert.deepEqual([payload.enrolledCount, payload.failedCount], [3, 2]);
    assert.deepEqual(
      apiCalls().map((r) => [r.path, r.body]),
      [
        [
          '/v3/identity/batch',
          {
            items: [
              { phoneNumber: '2025550101', clientCustomerId: 'b-0' },
              { phoneNumber: '2025550102', clientCustomerId: 'b-1' },
              { phoneNumber: '2025550104', clientCustomerId: 'b-4' },
            ],
          },
        ],
      ],
    );
    for (const i of [0, 4]) {
      assert.ok(fake.identities.has(payload.results[i]!.identity!.providerIdentityId!));
    }
  });

  it('batch: 100 items, the most allowed, go to Prove in one call and are all enrolled with its ids', async () => {
    const items = Array.from({ length: 100 }, (_, i) => ({
      phoneNumber: `20255${String(i).padStart(5, '0')}`,
      clientCustomerId: `full-${i}`,
    }));
    const res = await batchEnroll(s.gql, items);
    assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
    const payload = res.body.data!.batchEnrollIdentities;
    assert.deepEqual([payload.enrolledCount, payload.failedCount], [100, 0]);
    assert.deepEqual(
      apiCalls().map((r) => [r.path, r.body]),
      [['/v3/identity/batch', { items }]],
    );
    const ids = payload.results.map((r) => r.identity?.providerIdentityId);
    assert.equal(new Set(ids).size, 100);
    for (const id of ids) assert.ok(fake.identities.has(id as string));
    assert.equal(await identityCount(), 100);
  });

  it('batch: a failed Prove call fails every PROVE item with PROVIDER_UNAVAILABLE; the call still answers', async () => {
    fake.failNext(1, 500);
    const res = await batchEnroll(s.gql, [
      { phoneNumber: '2025550101' },
      { provider: 'PASSBASE', providerIdentityId: 'pb-1' },
      { phoneNumber: '2025550103' },
    ]);
    assert.equal(res.body.errors, undefined);
    const payload = res.body.data!.batchEnrollIdentities;
    assert.deepEqual(
      payload.results.map((r) => r.error?.code ?? null),
      ['PROVIDER_UNAVAILABLE', null, 'PROVIDER_UNAVAILABLE'],
    );
    assert.deepEqual([payload.enrolledCount, payload.failedCount], [1, 2]);
    assert.equal(await identityCount(), 1);
  });

  it('deactivates and reactivates at Prove (its /deactivate and /activate paths, a JSON {}) before recording', async () => {
    const identity = await enrollOk(s.gql, { phoneNumber: '2025550123', clientCustomerId: 'da' });
    const proveId = identity.providerIdentityId!;
    assert.equal((await deactivate(identity.id)).body.data?.deactivateIdentity.status, 'DEACTIVATED');
    assert.equal(fake.identities.get(proveId)?.active, false);
    assert.equal((await reactivate(identity.id)).body.data?.reactivateIdentity.status, 'ACTIVE');
    assert.equal(fake.identities.get(proveId)?.active, true);
    assert.deepEqual(
      apiCalls()
        .slice(1)
        .map((r) => [r.method, r.path, r.contentType, r.body]),
      [
        ['POST', `/v3/identity/${proveId}/deactivate`, 'application/json', {}],
        ['POST', `/v3/identity/${proveId}/activate`, 'application/json', {}],
      ],
    );
    // Idempotent answers do not bother Prove.
    await reactivate(identity.id);
    assert.equal(apiCalls().length, 3);
  });

  it('leaves the local status unchanged, with no event, when Prove fails a deactivation or reactivation', async () => {
    const identity = await enrollOk(s.gql, { phoneNumber: '2025550123' });
    fake.failNext(1, 500);
    const off = await deactivate(identity.id);
    assert.equal(codeOf(off), 'PROVIDER_UNAVAILABLE');
    const status = async () =>
      (
        (await s.app.db.query('SELECT status FROM identities WHERE id = $1', [identity.id])) as {
          status: string;
        }[]
      )[0]?.status;
    const types = async () =>
      (
        (await s.app.db.query('SELECT type FROM identity_events WHERE identity_id = $1 ORDER BY id', [
          identity.id,
        ])) as { type: string }[]
      ).map((r) => r.type);
    assert.equal(await status(), 'ACTIVE');
    assert.deepEqual(await types(), ['ENROLLED']);

    assert.equal((await deactivate(identity.id)).body.data?.deactivateIdentity.status, 'DEACTIVATED');
    fake.failNext(1, 404, { code: 8002, message: 'Identity not found' });
    const on = await reactivate(identity.id);
    assert.equal(codeOf(on), 'PROVIDER_UNAVAILABLE');
    assert.match(on.body.errors?.[0]?.message ?? '', /Prove answered 404 \(not found\): Identity not found/);
    // Prove's numeric code reaches the log line, as text, for support.
    const logged = s.logs
      .map((l) => JSON.parse(l))
      .filter((l) => l.msg === 'Prove refused or failed' && l.identityId === identity.id);
    assert.deepEqual(
      logged.map((l) => [l.providerStatus, l.providerCode]),
      [
        [500, '1500'],
        [404, '8002'],
      ],
    );
    assert.equal(await status(), 'DEACTIVATED');
    assert.deepEqual(await types(), ['ENROLLED', 'DEACTIVATED']);
  });

  it('5 concurrent identical enrollments: one stored, and Prove left monitoring only that one', async () => {
    const results = await Promise.all(
      Array.from({ length: 5 }, () => enroll(s.gql, { phoneNumber: '2025550111', clientCustomerId: 'race' })),
    );
    const winners = results.filter((r) => r.body.data?.enrollIdentity);
    assert.equal(winners.length, 1);
    const winner = winners[0]!.body.data!.enrollIdentity;
    for (const r of results.filter((x) => x !== winners[0])) {
      assert.equal(codeOf(r), 'ALREADY_ENROLLED');
      assert.equal(r.body.errors?.[0]?.extensions?.existingIdentityId, winner.id);
    }
    const activeAtProve = [...fake.identities.values()].filter(
      (i) => i.clientCustomerId === 'race' && i.active,
    );
    assert.deepEqual(
      activeAtProve.map((i) => i.proveId),
      [winner.providerIdentityId],
    );
    assert.equal(await identityCount(), 1);
  });
});
