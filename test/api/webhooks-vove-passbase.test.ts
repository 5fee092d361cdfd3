import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { encryptPassbase, signSvix } from '../fixtures/signers.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { PASSBASE_KEY, post, postPassbase, postVove, VOVE_SECRET, WEBHOOK_ENV } from '../helpers/webhooks.js';

describe('POST /webhooks/vove', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ env: WEBHOOK_ENV });
  });
  after(() => s.close());

  const identity = async (refId: string) =>
    (
      await s.app.db.query(
        'SELECT status, risk_level FROM identities WHERE provider = $1 AND provider_identity_id = $2',
        ['VOVE', refId],
      )
    )[0];

  it('stores a verified status change with the Svix timestamp as occurredAt', async () => {
    const refId = randomUUID();
    const at = new Date(Date.now() - 30_000);
    const res = await postVove(s.url, { status: 'suspected', refId }, { id: 'msg_first', timestamp: at });
    assert.deepEqual([res.status, res.body], [200, { accepted: 1, duplicates: 0, rejected: 0 }]);
    assert.deepEqual(await identity(refId), { status: 'ACTIVE', risk_level: 'HIGH' });
    const [e] = await s.app.db.query(
      "SELECT type, raw_type, verification_status, occurred_at FROM identity_events WHERE provider_event_id = 'msg_first'",
    );
    assert.equal(e.type, 'VERIFICATION_STATUS_CHANGED');
    assert.equal(e.verification_status, 'suspected');
    assert.equal(e.occurred_at.getTime(), Math.floor(at.getTime() / 1000) * 1000);
  });

  it('treats a Svix retry (same message id) as a duplicate', async () => {
    const refId = randomUUID();
    const body = { status: 'successful', refId };
    assert.equal((await postVove(s.url, body, { id: 'msg_retry' })).body.accepted, 1);
    assert.deepEqual((await postVove(s.url, body, { id: 'msg_retry' })).body, {
      accepted: 0,
      duplicates: 1,
      rejected: 0,
    });
  });

  it('uses the deprecated userId when refId is absent', async () => {
    const userId = randomUUID();
    assert.equal((await postVove(s.url, { status: 'successful', userId })).status, 200);
    assert.deepEqual(await identity(userId), { status: 'ACTIVE', risk_level: 'LOW' });
  });

  it('accepts webhook-* headers and a signature list where one entry is valid', async () => {
    const raw = JSON.stringify({ status: 'pending', refId: randomUUID() });
    const h = signSvix({ secret: VOVE_SECRET, id: 'msg_alt', timestamp: new Date(), body: raw });
    const res = await post(`${s.url}/webhooks/vove`, raw, {
      'webhook-id': h['svix-id'],
      'webhook-timestamp': h['svix-timestamp'],
      'webhook-signature': `v1,${randomBytes(32).toString('base64')} ${h['svix-signature']}`,
    });
    assert.equal(res.status, 200);
  });

  for (const [what, shiftMs] of [
    ['10 minutes old', -600_000],
    ['10 minutes ahead', 600_000],
  ] as const) {
    it(`refuses a timestamp ${what} with 401 timestamp_out_of_tolerance`, async () => {
      const res = await postVove(
        s.url,
        { status: 'pending', refId: randomUUID() },
        { timestamp: new Date(Date.now() + shiftMs) },
      );
      assert.deepEqual([res.status, res.body], [401, { error: 'timestamp_out_of_tolerance' }]);
    });
  }

  it('refuses malformed signature headers and a wrong secret', async () => {
    const raw = JSON.stringify({ status: 'pending', refId: randomUUID() });
    const h = signSvix({ secret: VOVE_SECRET, id: 'msg_bad', timestamp: new Date(), body: raw });
    for (const sig of ['garbage', 'v1,', 'v2,abc', '']) {
      const res = await post(`${s.url}/webhooks/vove`, raw, { ...h, 'svix-signature': sig });
      assert.equal(res.status, 401, sig);
      assert.ok(['invalid_signature', 'missing_signature'].includes(String(res.body.error)), sig);
    }
    const wrong = await postVove(s.url, raw, { secret: `whsec_${randomBytes(24).toString('base64')}` });
    assert.deepEqual([wrong.status, wrong.body], [401, { error: 'invalid_signature' }]);
    const missing = await post(`${s.url}/webhooks/vove`, raw, {
      'svix-id': 'x',
      'svix-timestamp': h['svix-timestamp'],
    });
    assert.deepEqual([missing.status, missing.body], [401, { error: 'missing_signature' }]);
  });

  it('refuses an authentic body with an unknown status as 400 invalid_payload', async () => {
    const res = await postVove(s.url, { status: 'maybe', refId: randomUUID() });
    assert.deepEqual([res.status, res.body.error], [400, 'invalid_payload']);
  });
});

describe('POST /webhooks/passbase', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ env: WEBHOOK_ENV });
  });
  after(() => s.close());

  const event = (over: Record<string, unknown> = {}) => ({
    event: 'VERIFICATION_COMPLETED',
    key: randomUUID(),
    status: 'pending',
    created: 1582628711,
    updated: 1582628999,
    processed: 1582628999,
    ...over,
  });
  const risk = async (key: string) =>
    (
      await s.app.db.query(
        "SELECT risk_level FROM identities WHERE provider = 'PASSBASE' AND provider_identity_id = $1",
        [key],
      )
    )[0]?.risk_level;

  it('decrypts and stores a verification, with updated as occurredAt', async () => {
    const e = event({ status: 'declined', event: 'VERIFICATION_REVIEWED' });
    const res = await postPassbase(s.url, e);
    assert.deepEqual([res.status, res.body], [200, { accepted: 1, duplicates: 0, rejected: 0 }]);
    assert.equal(await risk(e.key), 'HIGH');
  });

  it('counts the same event delivered twice (a new IV each time) as a duplicate', async () => {
    const e = event();
    assert.equal((await postPassbase(s.url, e)).body.accepted, 1);
    assert.deepEqual((await postPassbase(s.url, e)).body, { accepted: 0, duplicates: 1, rejected: 0 });
  });

  it('never moves back to pending when the completion arrives after the review', async () => {
    const key = randomUUID();
    await postPassbase(
      s.url,
      event({ key, event: 'VERIFICATION_REVIEWED', status: 'approved', updated: 1582629500 }),
    );
    await postPassbase(
      s.url,
      event({ key, event: 'VERIFICATION_COMPLETED', status: 'pending', updated: 1582628999 }),
    );
    assert.equal(await risk(key), 'LOW');
    // Same timestamp for both: the review still wins.
    const key2 = randomUUID();
    await postPassbase(s.url, event({ key: key2, event: 'VERIFICATION_REVIEWED', status: 'declined' }));
    await postPassbase(s.url, event({ key: key2, event: 'VERIFICATION_COMPLETED', status: 'pending' }));
    assert.equal(await risk(key2), 'HIGH');
  });

  it('answers every decryption failure identically with 401 decryption_failed', async () => {
    const good = encryptPassbase({ key: Buffer.from(PASSBASE_KEY), json: event() });
    const bytes = Buffer.from(good, 'base64');
    const flipLast = Buffer.from(bytes);
    flipLast[flipLast.length - 1] = (flipLast[flipLast.length - 1] ?? 0) ^ 0x01;
    const bodies = [
      encryptPassbase({ key: Buffer.from('another-key-0123456789abcdefghij'), json: event() }),
      flipLast.toString('base64'),
      bytes.subarray(0, 20).toString('base64'),
      randomBytes(64).toString('base64'),
      '%%% not base64 %%%',
      encryptPassbase({ key: Buffer.from(PASSBASE_KEY), json: 'not json at all' }),
      '',
    ];
    const answers = await Promise.all(
      bodies.map((b) => post(`${s.url}/webhooks/passbase`, b, { 'content-type': 'text/plain' })),
    );
    for (const a of answers) assert.deepEqual([a.status, a.text], [401, '{"error":"decryption_failed"}']);
  });

  it('refuses valid JSON that is not a Passbase event with 400, and plain JSON when not allowed', async () => {
    const res = await postPassbase(s.url, { hello: 'world' });
    assert.deepEqual([res.status, res.body.error], [400, 'invalid_payload']);
    const plain = await post(`${s.url}/webhooks/passbase`, JSON.stringify(event()), {
      'content-type': 'application/json',
    });
    assert.deepEqual([plain.status, plain.body], [401, { error: 'decryption_failed' }]);
  });

  it('accepts plain JSON when PASSBASE_ALLOW_UNENCRYPTED=true', async () => {
    const s2 = await startTestServer({ env: { ...WEBHOOK_ENV, PASSBASE_ALLOW_UNENCRYPTED: 'true' } });
    try {
      const res = await post(`${s2.url}/webhooks/passbase`, JSON.stringify(event()), {
        'content-type': 'application/json',
      });
      assert.deepEqual([res.status, res.body], [200, { accepted: 1, duplicates: 0, rejected: 0 }]);
    } finally {
      await s2.close();
    }
  });

  it('never answers 5xx to random bytes on any endpoint', async () => {
    for (const p of ['prove', 'vove', 'passbase']) {
      for (let i = 0; i < 30; i++) {
        const res = await post(`${s.url}/webhooks/${p}`, randomBytes(1 + i * 37), {
          'content-type': 'text/plain',
        });
        assert.ok(res.status < 500, `${p}: ${res.status}`);
      }
    }
  });
});
