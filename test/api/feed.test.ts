import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { decodeEventCursor } from '../../src/domain/cursor.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { subscribe } from '../helpers/subscriber.js';
import { postProve, postVove, proveNotification, WEBHOOK_ENV } from '../helpers/webhooks.js';

describe('identityEvents subscription', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ env: WEBHOOK_ENV });
  });
  after(() => s.close());

  const identityIdOf = async (providerIdentityId: string): Promise<string> =>
    (
      await s.app.db.query('SELECT id FROM identities WHERE provider_identity_id = $1', [providerIdentityId])
    )[0].id;

  it('delivers stored events live, in order, with their identity', async () => {
    const sub = await subscribe(s.url, await s.token(['events:subscribe']));
    try {
      const identity = `live-${randomUUID()}`;
      const n1 = proveNotification({ identityId: identity, eventType: 'LINE_TYPE_CHANGE' });
      const n2 = proveNotification({ identityId: identity, eventType: 'PORT' });
      assert.equal((await postProve(s.url, { notifications: [n1, n2] })).status, 200);
      const events = (await sub.waitFor(2)).filter(
        (e) => e.providerEventId === n1.eventId || e.providerEventId === n2.eventId,
      );
      assert.deepEqual(
        events.map((e) => e.type),
        ['LINE_TYPE_CHANGE', 'PORT'],
      );
      assert.equal(events[1]?.identity.riskLevel, 'HIGH');
      assert.equal(events[1]?.identity.status, 'ACTIVE');
      assert.equal(events[0]?.identity.id, await identityIdOf(identity));
      assert.deepEqual(sub.errors, []);
    } finally {
      await sub.dispose();
    }
  });

  it('applies every filter field', async () => {
    const x = `filter-x-${randomUUID()}`;
    await postProve(s.url, {
      notifications: [proveNotification({ identityId: x, eventType: 'UNKNOWN_THING' })],
    });
    const xId = await identityIdOf(x);
    const token = await s.token(['events:subscribe']);
    const byIdentity = await subscribe(s.url, token, { filter: { identityId: xId } });
    const byType = await subscribe(s.url, token, { filter: { types: ['DISCONNECT'] } });
    const byProvider = await subscribe(s.url, token, { filter: { providers: ['VOVE'] } });
    const byTime = await subscribe(s.url, token, {
      filter: { occurredAfter: '2020-01-01T00:00:00Z', occurredBefore: '2020-02-01T00:00:00Z' },
    });
    try {
      const forX = proveNotification({ identityId: x, eventType: 'PORT' });
      const disconnect = proveNotification({ eventType: 'DISCONNECT' });
      const old = proveNotification({ eventType: 'PORT', eventTimestamp: '2020-01-15T10:00:00Z' });
      await postProve(s.url, { notifications: [forX, disconnect, old] });
      const vove = `msg_${randomUUID()}`;
      await postVove(s.url, { status: 'successful', refId: randomUUID() }, { id: vove });
      const last = proveNotification({ identityId: x, eventType: 'LINE_TYPE_CHANGE' });
      await postProve(s.url, { notifications: [last] });

      assert.deepEqual(
        (await byIdentity.waitFor(2)).map((e) => e.providerEventId),
        [forX.eventId, last.eventId],
      );
      assert.deepEqual(
        (await byType.waitFor(1)).map((e) => e.providerEventId),
        [disconnect.eventId],
      );
      assert.deepEqual(
        (await byProvider.waitFor(1)).map((e) => e.providerEventId),
        [vove],
      );
      assert.deepEqual(
        (await byTime.waitFor(1)).map((e) => e.providerEventId),
        [old.eventId],
      );
      // Nothing else trickles in afterwards.
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(
        byIdentity.events.length + byType.events.length + byProvider.events.length + byTime.events.length,
        5,
      );
    } finally {
      await Promise.all([byIdentity, byType, byProvider, byTime].map((x) => x.dispose()));
    }
  });

  it('delivers to a subscriber on another replica (two servers, one database)', async () => {
    const other = await startTestServer({ env: WEBHOOK_ENV, database: s.database });
    const sub = await subscribe(other.url, await other.token(['events:subscribe']), {
      filter: { types: ['MOVED_OUT_OF_COVERAGE'] },
    });
    try {
      const n = proveNotification({ eventType: 'MOVED_OUT_OF_COVERAGE' });
      assert.equal((await postProve(s.url, { notifications: [n] })).status, 200);
      const [e] = await sub.waitFor(1);
      assert.equal(e?.providerEventId, n.eventId);
      assert.equal(e?.identity.status, 'ENDED');
    } finally {
      await sub.dispose();
      await other.close();
    }
  });

  it('resumes after a cursor from a query: replays the rest in order, then continues live', async () => {
    const identity = `resume-${randomUUID()}`;
    const first = Array.from({ length: 5 }, () => proveNotification({ identityId: identity }));
    await postProve(s.url, { notifications: first });
    const identityId = await identityIdOf(identity);
    const page = await s.gql<{ events: { edges: { cursor: string; node: { providerEventId: string } }[] } }>(
      'query ($id: ID!) { events(filter: { identityId: $id }, first: 10) { edges { cursor node { providerEventId } } } }',
      { id: identityId },
    );
    const edges = page.body.data?.events.edges ?? [];
    assert.equal(edges.length, 5);
    // Newest first: the second oldest is edges[3].
    const cursor = edges[3]?.cursor as string;
    const sub = await subscribe(s.url, await s.token(['events:subscribe']), {
      filter: { identityId },
      after: cursor,
    });
    try {
      await sub.waitFor(3);
      const more = [proveNotification({ identityId: identity }), proveNotification({ identityId: identity })];
      await postProve(s.url, { notifications: more });
      const got = await sub.waitFor(5);
      assert.deepEqual(
        got.map((e) => e.providerEventId),
        [...first.slice(2), ...more].map((n) => n.eventId),
      );
    } finally {
      await sub.dispose();
    }
  });

  it('delivers every committed event exactly once across a disconnect, under concurrent ingestion', async () => {
    const token = await s.token(['events:subscribe', 'events:read']);
    await postProve(s.url, { notifications: [proveNotification()] });
    const latest = await s.gql<{ events: { edges: { cursor: string }[] } }>(
      '{ events(first: 1) { edges { cursor } } }',
    );
    const start = latest.body.data?.events.edges[0]?.cursor as string;

    const writers = 8;
    const perWriter = 25;
    const first = await subscribe(s.url, token, { after: start });
    const posting = Promise.all(
      Array.from({ length: writers }, async () => {
        for (let i = 0; i < perWriter; i++) {
          const res = await postProve(s.url, { notifications: [proveNotification(), proveNotification()] });
          assert.equal(res.status, 200);
        }
      }),
    );
    await first.waitFor(60);
    await first.dispose();
    const seen = [...first.events];
    const resumed = await subscribe(s.url, token, { after: seen.at(-1)?.cursor as string });
    await posting;

    const p = decodeEventCursor(start);
    const stored: { id: string }[] = await s.app.db.query(
      // e.id, not id: a bare name in ORDER BY is the output column, the text, and '100' < '92'.
      'SELECT e.id::text AS id FROM identity_events e WHERE (e.tx_id, e.id) > ($1::xid8, $2::bigint) ORDER BY e.tx_id, e.id',
      [p.txId, p.id],
    );
    assert.equal(stored.length, writers * perWriter * 2);
    await resumed.waitFor(stored.length - seen.length, 20_000);
    await resumed.dispose();
    const all = [...seen, ...resumed.events].map((e) => e.id);
    assert.deepEqual(
      all,
      stored.map((r) => r.id),
      'every committed event exactly once, in order',
    );
  });

  it('shares one execution per operation and scopes, never across scopes (phone masked without pii:read)', async () => {
    const fields = `${'providerEventId identity { id phoneNumber }'}`;
    const filter = { types: ['ENROLLED'] };
    const plainA = await subscribe(s.url, await s.token(['events:subscribe']), { filter }, fields);
    const plainB = await subscribe(s.url, await s.token(['events:subscribe']), { filter }, fields);
    const pii = await subscribe(s.url, await s.token(['events:subscribe', 'pii:read']), { filter }, fields);
    try {
      const res = await s.gql<{ enrollIdentity: { id: string } }>(
        'mutation { enrollIdentity(input: { phoneNumber: "4155550123", clientCustomerId: "shared-exec" }) { id } }',
      );
      assert.deepEqual(res.body.errors, undefined);
      const phone = (sub: typeof pii) =>
        (sub.events[0] as unknown as { identity: { phoneNumber: string } }).identity.phoneNumber;
      await Promise.all([plainA.waitFor(1), plainB.waitFor(1), pii.waitFor(1)]);
      assert.equal(phone(pii), '+14155550123');
      assert.equal(phone(plainA), '********0123');
      assert.equal(phone(plainB), '********0123');
    } finally {
      await Promise.all([plainA, plainB, pii].map((x) => x.dispose()));
    }
  });

  it('carries the events of deactivateIdentity and reactivateIdentity like any other', async () => {
    const sub = await subscribe(s.url, await s.token(['events:subscribe']), {
      filter: { types: ['DEACTIVATED', 'REACTIVATED'] },
    });
    try {
      const enrolled = await s.gql<{ enrollIdentity: { id: string } }>(
        'mutation { enrollIdentity(input: { phoneNumber: "2025550177", clientCustomerId: "feed-lifecycle" }) { id } }',
      );
      const id = enrolled.body.data?.enrollIdentity.id as string;
      assert.ok(id, JSON.stringify(enrolled.body));
      const off = await s.gql('mutation ($id: ID!) { deactivateIdentity(id: $id) { status } }', { id });
      assert.deepEqual(off.body, { data: { deactivateIdentity: { status: 'DEACTIVATED' } } });
      const on = await s.gql('mutation ($id: ID!) { reactivateIdentity(id: $id) { status } }', { id });
      assert.deepEqual(on.body, { data: { reactivateIdentity: { status: 'ACTIVE' } } });
      const events = await sub.waitFor(2);
      assert.deepEqual(
        // The identity is read with the events, so its state may already be the later one: not compared.
        events.map((e) => [e.type, e.provider, e.identity.id]),
        [
          ['DEACTIVATED', 'PROVE', id],
          ['REACTIVATED', 'PROVE', id],
        ],
      );
      assert.deepEqual(sub.errors, []);
    } finally {
      await sub.dispose();
    }
  });

  it('masks an internal failure as INTERNAL_SERVER_ERROR, as over HTTP: no SQL reaches the subscriber', async () => {
    const identity = `masked-${randomUUID()}`;
    await postProve(s.url, { notifications: [proveNotification({ identityId: identity })] });
    const identityId = await identityIdOf(identity);
    const page = await s.gql<{ events: { edges: { cursor: string }[] } }>(
      'query ($id: ID!) { events(filter: { identityId: $id }, first: 1) { edges { cursor } } }',
      { id: identityId },
    );
    const cursor = page.body.data?.events.edges[0]?.cursor as string;
    // A second event, which the feed has read once a live subscriber receives it: a subscription
    // resuming from the cursor then has it to replay from the table.
    const live = await subscribe(s.url, await s.token(['events:subscribe']), { filter: { identityId } });
    await postProve(s.url, { notifications: [proveNotification({ identityId: identity })] });
    await live.waitFor(1);
    await live.dispose();
    // The replay then fails on a missing table.
    await s.app.db.query('ALTER TABLE identities RENAME TO identities_elsewhere');
    let sub: Awaited<ReturnType<typeof subscribe>> | undefined;
    try {
      sub = await subscribe(s.url, await s.token(['events:subscribe']), {
        filter: { identityId },
        after: cursor,
      });
      const deadline = Date.now() + 5000;
      while (sub.errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    } finally {
      await s.app.db.query('ALTER TABLE identities_elsewhere RENAME TO identities');
    }
    try {
      assert.ok(sub.errors.length > 0, 'the subscriber is told something failed');
      const said = JSON.stringify(sub.errors);
      assert.match(said, /INTERNAL_SERVER_ERROR/);
      assert.match(said, /Internal server error/);
      assert.doesNotMatch(said, /identities|relation|does not exist|SELECT/i);
    } finally {
      await sub.dispose();
    }
  });

  describe('auth', () => {
    it('closes the socket with 4403 for a missing or bad token, before any data', async () => {
      const none = await subscribe(s.url, null);
      assert.equal(await none.closed, 4403);
      const bad = await subscribe(s.url, 'not.a.token');
      assert.equal(await bad.closed, 4403);
      assert.deepEqual([...none.events, ...bad.events], []);
    });

    it('refuses a token without events:subscribe with FORBIDDEN', async () => {
      const sub = await subscribe(s.url, await s.token(['events:read', 'identities:read']));
      await sub.completed;
      assert.match(JSON.stringify(sub.errors), /FORBIDDEN|events:subscribe/);
      await sub.dispose();
    });

    it('ends the subscription when the token expires (4401)', async () => {
      const token = await s.token(['events:subscribe'], { expiresIn: Math.floor(Date.now() / 1000) + 2 });
      const sub = await subscribe(s.url, token);
      const t0 = Date.now();
      assert.equal(await sub.closed, 4401);
      assert.ok(Date.now() - t0 < 4000);
    });
  });
});

describe('a stalled subscriber', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ env: WEBHOOK_ENV, subscriptionBuffer: 300 });
  });
  after(() => s.close());

  it('neither delays a healthy one nor grows without bound: it is closed to resume later', async () => {
    const token = await s.token(['events:subscribe']);
    // A raw graphql-transport-ws client that subscribes and then stops reading its socket.
    const stalled = new WebSocket(`${s.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    await new Promise((r) => stalled.once('open', r));
    stalled.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
    await new Promise((r) => stalled.once('message', r));
    stalled.send(
      JSON.stringify({
        id: '1',
        type: 'subscribe',
        // Ten copies of a 1,000-character description make each frame ~10 KB: 3,000 events are ~30 MB,
        // more than the kernel's socket buffers can absorb for a reader that has stopped.
        payload: {
          query: `subscription { identityEvents { id cursor ${Array.from({ length: 10 }, (_, i) => `d${i}: description`).join(' ')} } }`,
        },
      }),
    );
    const stalledClosed = new Promise<number>((r) => stalled.once('close', (code) => r(code)));
    await new Promise((r) => setTimeout(r, 150));
    (stalled as unknown as { _socket: { pause(): void } })._socket.pause();

    const healthy = await subscribe(s.url, token);
    const total = 3000;
    const t0 = Date.now();
    for (let i = 0; i < total / 100; i++) {
      const notifications = Array.from({ length: 100 }, () => proveNotification({ event: 'x'.repeat(1000) }));
      assert.equal((await postProve(s.url, { notifications })).status, 200);
    }
    await healthy.waitFor(total, 30_000);
    const elapsed = Date.now() - t0;
    await healthy.dispose();

    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    const overflows = Number(/^feed_subscriber_overflows_total (\d+)$/m.exec(metrics)?.[1]);
    assert.equal(overflows, 1, 'the stalled subscriber overflowed its buffer and was dropped');
    (stalled as unknown as { _socket: { resume(): void } })._socket.resume();
    assert.ok([1013, 1006].includes(await stalledClosed), 'closed with 1013 (or cut after the grace period)');
    assert.ok(elapsed < 30_000, `healthy subscriber got ${total} events in ${elapsed} ms`);
  });
});
