import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PROVE_IDENTITY_MANAGER_SAMPLE } from '../fixtures/provider-samples.js';
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

  it("stores all five notifications of the Identity Manager guide's sample, which share one eventId", async () => {
    // Sent verbatim, its five events (one identity, one eventId, five event types) used to be stored as
    // one and counted as four duplicates; Prove never retries, so each was lost for good.
    const res = await postProve(s.url, PROVE_IDENTITY_MANAGER_SAMPLE);
    assert.deepEqual([res.status, res.body], [200, { accepted: 5, duplicates: 0, rejected: 0 }]);
    const events = await s.app.db.query(
      `SELECT e.provider_event_id, e.raw_type FROM identity_events e JOIN identities i ON i.id = e.identity_id
       WHERE i.provider_identity_id = '81d3829a-7207-4fd7-9a78-2dbf33fd54ad' ORDER BY e.id`,
    );
    const eventId = 'c3702333-ddd0-4aad-8f8f-c2813c1dd253';
    assert.deepEqual(
      events,
      ['PHONE_NUMBER_CHANGE', 'DISCONNECT', 'PORT', 'LINETYPE_CHANGE', 'MOVED_OUT_OF_COVERAGE'].map(
        (raw_type) => ({ provider_event_id: eventId, raw_type }),
      ),
    );
    // The same delivery again (a new token): each of the five is the same event, a duplicate.
    const again = await postProve(s.url, PROVE_IDENTITY_MANAGER_SAMPLE);
    assert.deepEqual([again.status, again.body], [200, { accepted: 0, duplicates: 5, rejected: 0 }]);
    const gql = await s.gql<{ events: { edges: { node: { providerEventId: string } }[] } }>(
      `{ events(first: 50) { edges { node { providerEventId } } } }`,
    );
    assert.equal(gql.body.errors, undefined, JSON.stringify(gql.body.errors));
    const ids = gql.body.data!.events.edges.map((e) => e.node.providerEventId);
    assert.equal(ids.filter((id) => id === eventId).length, 5, 'providerEventId is still the eventId');
  });

  it('keeps one eventId for two identities, or for two event types, as distinct events', async () => {
    const eventId = `evt-shared-${randomBytes(4).toString('hex')}`;
    const [a, b] = [`ida-${eventId}`, `idb-${eventId}`];
    const notifications = [
      proveNotification({ eventId, identityId: a, eventType: 'PORT' }),
      proveNotification({ eventId, identityId: b, eventType: 'PORT' }),
      proveNotification({ eventId, identityId: a, eventType: 'LINE_TYPE_CHANGE' }),
      // The first again within the same delivery: a duplicate.
      proveNotification({ eventId, identityId: a, eventType: 'PORT' }),
    ];
    const res = await postProve(s.url, { notifications });
    assert.deepEqual(res.body, { accepted: 3, duplicates: 1, rejected: 0 });
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

  describe('a Portal test ping ("Save and Test Webhook"): an authentic empty notifications list', () => {
    const ping = '{"notifications": []}';

    it('answers 200 with zero counts and is recorded with outcome "test", listed by webhookDeliveries(outcome: "test")', async () => {
      const res = await postProve(s.url, ping, { correlationId: 'ping-1' });
      assert.deepEqual([res.status, res.body], [200, { accepted: 0, duplicates: 0, rejected: 0 }]);
      const rows = await s.app.db.query(
        "SELECT outcome, event_count, rejected_count, signing_key FROM webhook_deliveries WHERE correlation_id = 'ping-1'",
      );
      assert.deepEqual(rows, [{ outcome: 'test', event_count: 0, rejected_count: 0, signing_key: 'utf8' }]);
      const listed = await s.gql<{
        webhookDeliveries: { edges: { node: { outcome: string; correlationId: string } }[] };
      }>('{ webhookDeliveries(outcome: "test", first: 10) { edges { node { outcome correlationId } } } }');
      assert.equal(listed.body.errors, undefined, JSON.stringify(listed.body.errors));
      assert.deepEqual(
        listed.body.data?.webhookDeliveries.edges.map((e) => e.node),
        [{ outcome: 'test', correlationId: 'ping-1' }],
      );
    });

    it('is refused 401 when forged, recording no test', async () => {
      const res = await postProve(s.url, ping, { secret: 'whsec_wrong', correlationId: 'ping-forged' });
      assert.deepEqual([res.status, res.body], [401, { error: 'invalid_signature' }]);
      const [{ n }] = await s.app.db.query(
        "SELECT count(*)::int AS n FROM webhook_deliveries WHERE outcome = 'test' AND correlation_id = 'ping-forged'",
      );
      assert.equal(n, 0);
    });

    it('consumes its jti: the same ping replayed is 409 replayed_token', async () => {
      const token = await signProve({ secret: PROVE_SECRET, body: ping });
      assert.equal((await postProve(s.url, ping, { token })).status, 200);
      const again = await postProve(s.url, ping, { token });
      assert.deepEqual([again.status, again.body], [409, { error: 'replayed_token' }]);
    });
  });

  it('rejects a notification dated in year 0 alone, storing the good DISCONNECT beside it (200, not 202)', async () => {
    // PostgreSQL refuses year 0 (22008): the whole delivery used to be spooled (202), set aside by the
    // loader in failed/, and the good event never stored.
    const identityId = `y0-${randomBytes(4).toString('hex')}`;
    const good = proveNotification({
      identityId,
      eventType: 'DISCONNECT',
      event: 'phone number disconnected',
    });
    const bad = proveNotification({ identityId, eventTimestamp: '0000-01-01T00:00:00Z' });
    const res = await postProve(s.url, { notifications: [good, bad] }, { correlationId: 'year-0' });
    assert.deepEqual([res.status, res.body], [200, { accepted: 1, duplicates: 0, rejected: 1 }]);
    const events = await s.app.db.query(
      `SELECT e.provider_event_id, e.type FROM identity_events e JOIN identities i ON i.id = e.identity_id
       WHERE i.provider_identity_id = $1`,
      [identityId],
    );
    assert.deepEqual(events, [{ provider_event_id: good.eventId, type: 'DISCONNECT' }]);
    const [delivery] = await s.app.db.query(
      "SELECT rejected_items FROM webhook_deliveries WHERE correlation_id = 'year-0'",
    );
    assert.equal(delivery.rejected_items[0].index, 1);
    assert.match(delivery.rejected_items[0].reason, /^eventTimestamp .*0001-01-01.*9999-12-31/);
    assert.deepEqual(await readdir(s.spoolDir), ['failed'], 'nothing spooled');
  });

  it('rejects a deeply nested notification alone, within the body limit, keeping it raw', async () => {
    // A body may nest 64 levels (deeper is refused whole, 400); a notification 60 deep fails alone.
    const good = proveNotification();
    const deep = `${'['.repeat(60)}${']'.repeat(60)}`;
    const res = await postProve(s.url, `{"notifications": [${JSON.stringify(good)}, ${deep}]}`, {
      correlationId: 'deep-1',
    });
    assert.deepEqual([res.status, res.body], [200, { accepted: 1, duplicates: 0, rejected: 1 }]);
    const [delivery] = await s.app.db.query(
      "SELECT event_count, rejected_items FROM webhook_deliveries WHERE correlation_id = 'deep-1'",
    );
    assert.equal(delivery.event_count, 1);
    assert.equal(JSON.stringify(delivery.rejected_items[0].raw), JSON.stringify(JSON.parse(deep)));
  });

  it('stores every text at its longest in 3-byte characters, and numbers at the ends of a double kept raw', async () => {
    // The longest ids fit PostgreSQL's index rows (the event key holds eventId and eventType together).
    const long = (n: number) => '€'.repeat(n);
    const n = proveNotification({
      eventId: long(200),
      identityId: long(200),
      eventType: long(200),
      clientCustomerId: long(200),
      event: long(1000),
      newCarrier: long(200),
      newLineType: long(200),
    });
    const bad = '{"eventId": "no-identity", "big": 1.7976931348623157e308, "tiny": 5e-324, "over": 1e400}';
    const raw = `{"notifications": [${JSON.stringify(n)}, ${bad}]}`;
    const res = await postProve(s.url, raw, { correlationId: 'longest' });
    assert.deepEqual([res.status, res.body], [200, { accepted: 1, duplicates: 0, rejected: 1 }]);
    const again = await postProve(s.url, { notifications: [n] });
    assert.deepEqual(again.body, { accepted: 0, duplicates: 1, rejected: 0 });
    const [delivery] = await s.app.db.query(
      "SELECT rejected_items->0->'raw' AS raw FROM webhook_deliveries WHERE correlation_id = 'longest'",
    );
    // 1e400 is Infinity to JSON.parse, kept as null; the others as sent.
    assert.deepEqual(delivery.raw, {
      eventId: 'no-identity',
      big: 1.7976931348623157e308,
      tiny: 5e-324,
      over: null,
    });
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
      const raw = `{"notifications":[${'['.repeat(100_000)}${']'.repeat(100_000)}]}`;
      // Deliveries are counted by this body's hash: earlier tests' refusals are recorded after their
      // answer (fire and forget), so a count of every delivery row could still move under this test.
      const stored = () =>
        count(
          `SELECT ((SELECT count(*) FROM identity_events) + (SELECT count(*) FROM identities)
             + (SELECT count(*) FROM webhook_deliveries
                 WHERE body_sha256 = $1 AND outcome <> 'invalid_payload'))::text AS n`,
          [createHash('sha256').update(raw).digest('hex')],
        );
      const before = await stored();
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
