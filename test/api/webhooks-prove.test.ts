import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { signProve } from '../fixtures/signers.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { PROVE_SECRET, post, postProve, proveNotification, WEBHOOK_ENV } from '../helpers/webhooks.js';

const now = () => Math.floor(Date.now() / 1000);

describe('POST /webhooks/prove', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ env: WEBHOOK_ENV });
  });
  after(() => s.close());

  const count = async (sql: string, params: unknown[] = []) =>
    Number(((await s.app.db.query(sql, params)) as { n: string }[])[0]?.n);

  it('stores every notification, creates the identity with its state, and answers the counts', async () => {
    const identityId = `id-${randomBytes(4).toString('hex')}`;
    const notifications = [
      proveNotification({ identityId, eventType: 'LINETYPE_CHANGE', newLineType: 'Mobile' }),
      proveNotification({ identityId, eventType: 'PORT', newCarrier: 'AT&T Wireless' }),
    ];
    const res = await postProve(s.url, { notifications }, { correlationId: 'corr-123' });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { accepted: 2, duplicates: 0, rejected: 0 });
    const [identity] = await s.app.db.query(
      'SELECT status, risk_level, client_customer_id FROM identities WHERE provider_identity_id = $1',
      [identityId],
    );
    assert.deepEqual(identity, {
      status: 'ACTIVE',
      risk_level: 'HIGH',
      client_customer_id: notifications[0]?.clientCustomerId,
    });
    const events = await s.app.db.query(
      `SELECT type, raw_type, new_carrier, new_line_type FROM identity_events e JOIN identities i ON i.id = e.identity_id
       WHERE i.provider_identity_id = $1 ORDER BY e.id`,
      [identityId],
    );
    assert.deepEqual(events, [
      { type: 'LINE_TYPE_CHANGE', raw_type: 'LINETYPE_CHANGE', new_carrier: null, new_line_type: 'Mobile' },
      { type: 'PORT', raw_type: 'PORT', new_carrier: 'AT&T Wireless', new_line_type: null },
    ]);
    const [delivery] = await s.app.db.query(
      "SELECT outcome, correlation_id, event_count, duplicate_count FROM webhook_deliveries WHERE correlation_id = 'corr-123'",
    );
    assert.deepEqual(delivery, {
      outcome: 'accepted',
      correlation_id: 'corr-123',
      event_count: 2,
      duplicate_count: 0,
    });
  });

  it("accepts the provider documents' own example payloads with every field spelling", async () => {
    const doc = await readFile(
      new URL('../../../../shared/provider-docs/prove-identity-manager.txt', import.meta.url),
      'utf8',
    );
    const json = doc.slice(doc.indexOf('{\n    "notifications"'), doc.indexOf('8\n\nAccess Production'));
    const res = await postProve(s.url, json.trim());
    assert.equal(res.status, 200);
    // That example reuses one eventId for all five notifications: one event, four duplicates.
    assert.deepEqual(res.body, { accepted: 1, duplicates: 4, rejected: 0 });
  });

  it('counts a redelivered event as a duplicate and never stores it twice', async () => {
    const n = proveNotification();
    assert.deepEqual((await postProve(s.url, { notifications: [n] })).body, {
      accepted: 1,
      duplicates: 0,
      rejected: 0,
    });
    assert.deepEqual((await postProve(s.url, { notifications: [n] })).body, {
      accepted: 0,
      duplicates: 1,
      rejected: 0,
    });
    assert.equal(
      await count('SELECT count(*)::text AS n FROM identity_events WHERE provider_event_id = $1', [
        n.eventId,
      ]),
      1,
    );
  });

  it('stores the good notifications of a delivery with a malformed one, keeping the bad one raw', async () => {
    const bad = { eventId: 'no-identity', eventType: 'PORT', eventTimestamp: new Date().toISOString() };
    const res = await postProve(
      s.url,
      { notifications: [proveNotification(), bad, proveNotification()] },
      { correlationId: 'partly-bad' },
    );
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { accepted: 2, duplicates: 0, rejected: 1 });
    const [row] = await s.app.db.query(
      "SELECT rejected_count, rejected_items FROM webhook_deliveries WHERE correlation_id = 'partly-bad'",
    );
    assert.equal(row.rejected_count, 1);
    assert.equal(row.rejected_items[0].index, 1);
    assert.deepEqual(row.rejected_items[0].raw, bad);
    assert.match(row.rejected_items[0].reason, /identity/i);
  });

  it('stores text PostgreSQL cannot hold as sent (U+0000, a lone surrogate) with U+FFFD, losing nothing', async () => {
    // JSON allows both as escapes, and an authentic delivery may carry them; PostgreSQL's jsonb and text
    // refuse them. Such a delivery used to fail its commit, be answered 202 and never load from the spool.
    const identityId = `nul-${randomBytes(4).toString('hex')}\u0000x`;
    const eventId = `evt-nul-${randomBytes(4).toString('hex')}\u0000`;
    const good = proveNotification({ identityId, eventId, event: 'ported \ud800 here' });
    const bad = { eventId: `evt-bad-${randomBytes(4).toString('hex')}`, note: 'no identity \u0000 \udc00' };
    const jti = `jti-nul-${randomBytes(4).toString('hex')}\u0000`;
    const res = await postProve(s.url, { notifications: [good, bad] }, { claims: { jti } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { accepted: 1, duplicates: 0, rejected: 1 });

    const stored = identityId.replace('\u0000', '\ufffd');
    const [event] = await s.app.db.query(
      `SELECT e.provider_event_id, e.description FROM identity_events e JOIN identities i ON i.id = e.identity_id
       WHERE i.provider_identity_id = $1`,
      [stored],
    );
    assert.deepEqual(event, {
      provider_event_id: eventId.replace('\u0000', '\ufffd'),
      description: 'ported \ufffd here',
    });
    const [{ n: tokens }] = await s.app.db.query(
      'SELECT count(*)::int AS n FROM prove_token_ids WHERE jti = $1',
      [jti.replace('\u0000', '\ufffd')],
    );
    assert.equal(tokens, 1);
    const [delivery] = await s.app.db.query(
      `SELECT rejected_items->0->'raw'->>'note' AS note FROM webhook_deliveries w
       WHERE w.id = (SELECT delivery_id FROM identity_events WHERE provider_event_id = $1)`,
      [eventId.replace('\u0000', '\ufffd')],
    );
    assert.equal(delivery.note, 'no identity \ufffd \ufffd');

    // The same token again is still a replay: the replacement is the same every time.
    const again = await postProve(s.url, { notifications: [proveNotification()] }, { claims: { jti } });
    assert.equal(again.status, 409);
  });

  it('keeps an unknown event type as UNKNOWN with its raw value, leaving the state alone', async () => {
    const n = proveNotification({ eventType: 'SIM_SWAP' });
    assert.equal((await postProve(s.url, { notifications: [n] })).status, 200);
    const [row] = await s.app.db.query(
      `SELECT e.type, e.raw_type, i.risk_level, i.status FROM identity_events e JOIN identities i ON i.id = e.identity_id
       WHERE e.provider_event_id = $1`,
      [n.eventId],
    );
    assert.deepEqual(row, { type: 'UNKNOWN', raw_type: 'SIM_SWAP', risk_level: 'UNKNOWN', status: 'ACTIVE' });
  });

  describe('refuses', () => {
    const body = () => JSON.stringify({ notifications: [proveNotification()] });
    const cases: [
      string,
      () => Promise<{ status: number; body: Record<string, unknown> }>,
      number,
      string,
    ][] = [
      [
        'a missing header',
        () => post(`${s.url}/webhooks/prove`, body(), { 'content-type': 'application/json' }),
        401,
        'missing_signature',
      ],
      [
        'a token signed with another secret',
        () => postProve(s.url, body(), { secret: 'whsec_wrong' }),
        401,
        'invalid_signature',
      ],
      ['alg none', () => postProve(s.url, body(), { header: { alg: 'none' } }), 401, 'invalid_signature'],
      [
        'another algorithm (HS512)',
        () => postProve(s.url, body(), { header: { alg: 'HS512' } }),
        401,
        'invalid_signature',
      ],
      [
        'a token without exp',
        () => postProve(s.url, body(), { claims: { exp: undefined } }),
        401,
        'invalid_signature',
      ],
      [
        'an expired token beyond the skew',
        () => postProve(s.url, body(), { claims: { iat: now() - 600, nbf: now() - 600, exp: now() - 61 } }),
        401,
        'token_expired',
      ],
      [
        'a token not yet valid beyond the skew',
        () => postProve(s.url, body(), { claims: { nbf: now() + 120, iat: now() + 120, exp: now() + 400 } }),
        401,
        'token_not_yet_valid',
      ],
      [
        'the wrong issuer',
        () => postProve(s.url, body(), { claims: { iss: 'Someone Else' } }),
        401,
        'invalid_issuer',
      ],
    ];
    for (const [what, send, status, code] of cases) {
      it(`${what} with ${status} ${code}`, async () => {
        const res = await send();
        assert.equal(res.status, status);
        assert.deepEqual(res.body, { error: code });
      });
    }

    it('a tampered body with 401 body_hash_mismatch, storing nothing', async () => {
      const n = proveNotification();
      const raw = JSON.stringify({ notifications: [n] });
      const token = await signProve({ secret: PROVE_SECRET, body: raw });
      const res = await postProve(s.url, raw.replace('PORT', 'DISCONNECT'), { token });
      assert.deepEqual([res.status, res.body], [401, { error: 'body_hash_mismatch' }]);
      assert.equal(
        await count('SELECT count(*)::text AS n FROM identity_events WHERE provider_event_id = $1', [
          n.eventId,
        ]),
        0,
      );
    });

    it('a replayed token with 409, and of 8 concurrent copies exactly one is accepted', async () => {
      const raw = JSON.stringify({ notifications: [proveNotification()] });
      const token = await signProve({ secret: PROVE_SECRET, body: raw });
      const answers = await Promise.all(Array.from({ length: 8 }, () => postProve(s.url, raw, { token })));
      assert.deepEqual(answers.map((a) => a.status).sort(), [200, 409, 409, 409, 409, 409, 409, 409]);
      for (const a of answers.filter((x) => x.status === 409))
        assert.deepEqual(a.body, { error: 'replayed_token' });
      const again = await postProve(s.url, raw, { token });
      assert.deepEqual([again.status, again.body], [409, { error: 'replayed_token' }]);
    });

    it('more than 100 notifications with 400 invalid_payload', async () => {
      const res = await postProve(s.url, {
        notifications: Array.from({ length: 101 }, () => proveNotification()),
      });
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'invalid_payload');
      assert.match(String(res.body.message), /101/);
    });

    it('a notification nested 100,000 deep with 400 invalid_payload, storing and spooling nothing', async () => {
      const stored = () =>
        count(
          `SELECT ((SELECT count(*) FROM identity_events) + (SELECT count(*) FROM identities)
             + (SELECT count(*) FROM webhook_deliveries WHERE outcome <> 'invalid_payload'))::text AS n`,
        );
      const before = await stored();
      const raw = `{"notifications":[${'['.repeat(100_000)}${']'.repeat(100_000)}]}`;
      assert.ok(raw.length < 1024 * 1024, 'under the body limit, so it reaches the parser');
      const res = await postProve(s.url, raw);
      assert.deepEqual(
        [res.status, res.body],
        [400, { error: 'invalid_payload', message: 'body is nested deeper than 64 levels' }],
      );
      assert.equal(await stored(), before, 'no event, identity or delivery stored');
      assert.deepEqual(await readdir(s.spoolDir), ['failed'], 'nothing spooled, no .tmp left behind');
      assert.deepEqual(await readdir(path.join(s.spoolDir, 'failed')), []);
    });

    it('a body that is not JSON after a valid signature with 400 invalid_payload', async () => {
      const res = await postProve(s.url, 'this is not json');
      assert.deepEqual([res.status, res.body.error], [400, 'invalid_payload']);
    });

    it('a body over 1 MiB with 413', async () => {
      const res = await postProve(s.url, JSON.stringify({ notifications: [], pad: 'x'.repeat(1024 * 1024) }));
      assert.deepEqual([res.status, res.body], [413, { error: 'payload_too_large' }]);
    });

    it('random bytes without a 5xx', async () => {
      for (let i = 0; i < 50; i++) {
        const raw = randomBytes(1 + Math.floor(Math.random() * 2000));
        const headers: Record<string, string> = {
          'content-type': i % 2 ? 'application/json' : 'application/octet-stream',
        };
        if (i % 3 === 0) headers['x-prove-authorization'] = `Bearer ${randomBytes(40).toString('base64url')}`;
        const res = await post(`${s.url}/webhooks/prove`, raw, headers);
        assert.ok(res.status < 500, `got ${res.status}`);
      }
      const token = await signProve({ secret: PROVE_SECRET, body: 'x' });
      const res = await post(`${s.url}/webhooks/prove`, randomBytes(300), {
        'x-prove-authorization': `Bearer ${token}`,
      });
      assert.deepEqual([res.status, res.body], [401, { error: 'body_hash_mismatch' }]);
    });
  });

  it('records refused deliveries without their body for operators', async () => {
    const res = await post(`${s.url}/webhooks/prove`, '{"notifications":[]}', {
      'x-correlation-id': 'forged-1',
    });
    assert.equal(res.status, 401);
    // Recording is fire-and-forget: give it a moment.
    for (
      let i = 0;
      i < 50 &&
      (await count(
        "SELECT count(*)::text AS n FROM webhook_deliveries WHERE outcome = 'missing_signature'",
      )) === 0;
      i++
    ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const rows = await s.app.db.query(
      "SELECT provider, outcome, event_count, rejected_items FROM webhook_deliveries WHERE outcome = 'missing_signature' LIMIT 1",
    );
    assert.deepEqual(rows[0], {
      provider: 'PROVE',
      outcome: 'missing_signature',
      event_count: 0,
      rejected_items: null,
    });
  });

  it('never puts a secret, a token or a stack in an answer or a log line', async () => {
    const raw = JSON.stringify({ notifications: [proveNotification()] });
    const token = await signProve({ secret: PROVE_SECRET, body: raw });
    const answers = [
      await postProve(s.url, raw, { token }),
      await postProve(s.url, raw, { token }),
      await postProve(s.url, `${raw} `, { token }),
      await post(`${s.url}/webhooks/prove`, raw, { 'x-prove-authorization': `Bearer ${token}x` }),
    ];
    const everything = answers.map((a) => a.text).join('\n') + s.logs.join('');
    assert.ok(!everything.includes(PROVE_SECRET), 'secret leaked');
    assert.ok(!everything.includes(token.split('.')[2]!), 'token leaked');
    assert.ok(!/\n\s+at /.test(everything), 'stack leaked');
  });
});

describe('POST /webhooks/* without a configured secret', () => {
  it('answers 503 provider_not_configured', async () => {
    const s = await startTestServer();
    try {
      for (const p of ['prove', 'vove', 'passbase']) {
        const res = await post(`${s.url}/webhooks/${p}`, '{}', { 'content-type': 'application/json' });
        assert.deepEqual([res.status, res.body], [503, { error: 'provider_not_configured' }]);
      }
    } finally {
      await s.close();
    }
  });
});
