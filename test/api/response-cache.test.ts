/**
 * The GraphQL response cache end to end (src/graphql/response-cache.ts, docs/adr/0008-response-cache.md):
 * the real server on real PostgreSQL, written to only as clients write (webhooks, mutations), with the
 * outcome of every request read from `graphql_response_cache_total` on /metrics.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import {
  codeOf,
  DEACTIVATE,
  enroll,
  enrollOk,
  type IdentityView,
  REACTIVATE,
} from '../helpers/enrollment.js';
import { pollUntil } from '../helpers/poll.js';
import { seedIdentity } from '../helpers/seed.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { type Subscriber, subscribe } from '../helpers/subscriber.js';
import { postProve, proveNotification, WEBHOOK_ENV } from '../helpers/webhooks.js';

type Outcome = 'hit' | 'shared' | 'miss' | 'bypass';
type Counts = Record<Outcome, number>;

const METRIC_LINE = /^graphql_response_cache_total\{result="(hit|shared|miss|bypass)"\} (\d+)$/gm;

/** `graphql_response_cache_total` by result from GET /metrics; a result not counted yet is 0. */
async function cacheCounts(url: string): Promise<Counts> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const counts: Counts = { hit: 0, shared: 0, miss: 0, bypass: 0 };
  for (const m of text.matchAll(METRIC_LINE)) counts[m[1] as Outcome] = Number(m[2]);
  return counts;
}

/** Runs `fn`; returns its result and the cache outcomes the server counted meanwhile. */
async function counted<T>(url: string, fn: () => Promise<T>): Promise<{ result: T; counts: Counts }> {
  const start = await cacheCounts(url);
  const result = await fn();
  const end = await cacheCounts(url);
  return {
    result,
    counts: {
      hit: end.hit - start.hit,
      shared: end.shared - start.shared,
      miss: end.miss - start.miss,
      bypass: end.bypass - start.bypass,
    },
  };
}

const outcomes = (o: Partial<Counts>): Counts => ({ hit: 0, shared: 0, miss: 0, bypass: 0, ...o });

/** POST /graphql with an operationName, which TestServer.gql does not send. */
async function gqlOperation<T>(
  s: TestServer,
  body: { query: string; operationName: string; variables?: Record<string, unknown> },
): Promise<{ data?: T; errors?: unknown[] }> {
  const res = await fetch(`${s.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await s.token()}` },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200);
  return (await res.json()) as { data?: T; errors?: unknown[] };
}

const IDENTITY = 'query($id: ID!) { identity(id: $id) { id phoneNumber status riskLevel } }';

interface IdentityNode {
  id: string;
  status: string;
  riskLevel: string;
}

/** The identities with a provider identity id (or a client customer id), as a frontend would list them. */
const BY_PROVIDER_ID = `query($pid: String!) {
  identities(filter: { providerIdentityId: $pid }) { edges { node { id status riskLevel } } }
}`;
const BY_CUSTOMER = `query($c: String!) {
  identities(filter: { clientCustomerId: $c }) { edges { node { id status riskLevel } } }
}`;
type IdentitiesAnswer = { identities: { edges: { node: IdentityNode }[] } };

/**
 * A transaction with an id, left open on its own connection: events committed after it stay above the
 * visibility horizon (docs/adr/0003-event-order.md) until it ends, so no change feed reads them.
 */
async function holdOpen(url: string): Promise<pg.Client> {
  const c = new pg.Client(url);
  await c.connect();
  await c.query('BEGIN');
  await c.query('SELECT pg_current_xact_id()');
  return c;
}

/** Entries never expire within a test here: whatever clears one is an invalidation. */
const CACHE_ENV = { ...WEBHOOK_ENV, GRAPHQL_CACHE_TTL_MS: '60000' };

const eventCount = async (t: TestServer): Promise<number> =>
  (await t.app.db.query<{ n: number }[]>('SELECT count(*)::int AS n FROM identity_events'))[0]!.n;

/**
 * A subscriber to every event of server `t`, to wait until `t`'s change feed has read every event stored
 * so far (it invalidates the cache before handing them out): then no invalidation caused by an earlier
 * write can still turn an expected hit into a miss. Start it while no write is in flight.
 */
async function watchFeed(t: TestServer): Promise<{ caughtUp(): Promise<void>; dispose(): Promise<void> }> {
  const baseline = await eventCount(t);
  const sub: Subscriber = await subscribe(t.url, await t.token(['events:subscribe']));
  return {
    caughtUp: async () => {
      await sub.waitFor((await eventCount(t)) - baseline);
    },
    dispose: () => sub.dispose(),
  };
}

describe('GraphQL response cache (TTL 60 s: only invalidation empties it)', () => {
  let s: TestServer;
  let feed: Awaited<ReturnType<typeof watchFeed>>;
  before(async () => {
    s = await startTestServer({ env: CACHE_ENV });
    feed = await watchFeed(s);
  });
  after(async () => {
    await feed.dispose();
    await s.close();
  });
  const feedCaughtUp = () => feed.caughtUp();

  const identityIdOf = async (providerIdentityId: string): Promise<string> =>
    (
      await s.app.db.query<{ id: string }[]>('SELECT id FROM identities WHERE provider_identity_id = $1', [
        providerIdentityId,
      ])
    )[0]!.id;

  /** A Prove identity created the way Prove creates one (a webhook), its events read by the feed. */
  async function proveIdentity(eventType: string): Promise<{ pid: string; id: string }> {
    const pid = `cache-${randomUUID()}`;
    const res = await postProve(s.url, {
      notifications: [proveNotification({ identityId: pid, eventType })],
    });
    assert.deepEqual(res.body, { accepted: 1, duplicates: 0, rejected: 0 });
    await feedCaughtUp();
    return { pid, id: await identityIdOf(pid) };
  }

  it('answers a repeated query from the cache; other variables or another operationName are misses', async () => {
    const a = await seedIdentity(s.app.db, { riskLevel: 'LOW' });
    const b = await seedIdentity(s.app.db, { riskLevel: 'MEDIUM' });
    await feedCaughtUp();

    const first = await counted(s.url, () => s.gql(IDENTITY, { id: a }));
    assert.deepEqual(first.counts, outcomes({ miss: 1 }));
    assert.equal(first.result.status, 200);
    assert.equal((first.result.body.data as { identity: IdentityNode }).identity.riskLevel, 'LOW');
    const second = await counted(s.url, () => s.gql(IDENTITY, { id: a }));
    assert.deepEqual(second.counts, outcomes({ hit: 1 }));
    assert.equal(second.result.status, 200);
    assert.deepEqual(second.result.body, first.result.body);

    const other = await counted(s.url, () => s.gql(IDENTITY, { id: b }));
    assert.deepEqual(other.counts, outcomes({ miss: 1 }));
    assert.equal((other.result.body.data as { identity: IdentityNode }).identity.riskLevel, 'MEDIUM');

    // One document, two operations: the same query hash, told apart only by the operationName.
    const query = `query A($id: ID!) { identity(id: $id) { id riskLevel } }
      query B($id: ID!) { identity(id: $id) { id status } }`;
    const opA = await counted(s.url, () =>
      gqlOperation(s, { query, operationName: 'A', variables: { id: a } }),
    );
    const opB = await counted(s.url, () =>
      gqlOperation(s, { query, operationName: 'B', variables: { id: a } }),
    );
    assert.deepEqual(opA.counts, outcomes({ miss: 1 }));
    assert.deepEqual(opB.counts, outcomes({ miss: 1 }));
    assert.deepEqual(opA.result, { data: { identity: { id: a, riskLevel: 'LOW' } } });
    assert.deepEqual(opB.result, { data: { identity: { id: a, status: 'ACTIVE' } } });
    const againA = await counted(s.url, () =>
      gqlOperation(s, { query, operationName: 'A', variables: { id: a } }),
    );
    assert.deepEqual(againA.counts, outcomes({ hit: 1 }));
    assert.deepEqual(againA.result, opA.result);
  });

  it("keys answers by scopes: phone masking differs, and no caller is served another's answer", async () => {
    const id = await seedIdentity(s.app.db, { phoneNumber: '+12025550123' });
    await feedCaughtUp();
    const Q = 'query($id: ID!) { identity(id: $id) { id phoneNumber } }';
    const pii = await s.token(['identities:read', 'pii:read']);
    const plain = await s.token(['identities:read']);
    const phoneOf = (r: Awaited<ReturnType<typeof s.gql>>) =>
      (r.body.data as { identity: { phoneNumber: string } }).identity.phoneNumber;

    const cold = await counted(s.url, async () => [
      await s.gql(Q, { id }, { token: pii }),
      await s.gql(Q, { id }, { token: plain }),
    ]);
    assert.deepEqual(cold.counts, outcomes({ miss: 2 }));
    assert.deepEqual(cold.result.map(phoneOf), ['+12025550123', '********0123']);

    // Cached now for both; each is served its own. A new token with the same scopes in another order
    // shares the entry.
    const warm = await counted(s.url, async () => [
      await s.gql(Q, { id }, { token: plain }),
      await s.gql(Q, { id }, { token: pii }),
      await s.gql(Q, { id }, { token: await s.token(['pii:read', 'identities:read']) }),
    ]);
    assert.deepEqual(warm.counts, outcomes({ hit: 3 }));
    assert.deepEqual(warm.result.map(phoneOf), ['********0123', '+12025550123', '+12025550123']);

    // Without identities:read: FORBIDDEN, however often asked (an error is never stored).
    const forbidden = await counted(s.url, async () => [
      await s.gql(Q, { id }, { token: await s.token(['events:read']) }),
      await s.gql(Q, { id }, { token: await s.token(['events:read']) }),
    ]);
    assert.deepEqual(forbidden.counts, outcomes({ miss: 2 }));
    for (const r of forbidden.result) {
      assert.equal(r.status, 200);
      assert.equal(codeOf(r), 'FORBIDDEN');
      assert.equal((r.body.data as { identity: unknown } | undefined)?.identity ?? null, null);
    }

    // No token: UNAUTHENTICATED, never stored either.
    const anonymous = await counted(s.url, async () => [
      await s.gql(Q, { id }, { token: null }),
      await s.gql(Q, { id }, { token: null }),
    ]);
    assert.deepEqual(anonymous.counts, outcomes({ miss: 2 }));
    for (const r of anonymous.result) assert.equal(codeOf(r), 'UNAUTHENTICATED');

    // A forged or expired token is refused before the cache is consulted: 401, no data, nothing counted.
    const forged = `${pii.slice(0, -4)}${pii.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    const expired = await s.token(['identities:read', 'pii:read'], {
      expiresIn: Math.floor(Date.now() / 1000) - 120,
    });
    const refused = await counted(s.url, async () => [
      await s.gql(Q, { id }, { token: forged }),
      await s.gql(Q, { id }, { token: expired }),
      await s.gql(Q, { id }, { token: 'not-a-jwt' }),
    ]);
    assert.deepEqual(refused.counts, outcomes({}));
    for (const r of refused.result) {
      assert.equal(r.status, 401);
      assert.equal(codeOf(r), 'UNAUTHENTICATED');
      assert.equal(r.body.data, undefined);
      assert.doesNotMatch(JSON.stringify(r.body), /0123/);
    }
  });

  it("reads this server's own webhook writes at once: identities, events and riskSummary", async () => {
    const { pid, id } = await proveIdentity('LINE_TYPE_CHANGE');
    const STATE = `query($pid: String!, $id: ID!) {
      identities(filter: { providerIdentityId: $pid }) { edges { node { id status riskLevel } } }
      events(filter: { identityId: $id }) { edges { node { type providerEventId } } }
    }`;
    const SUMMARY = '{ riskSummary(provider: PROVE) { byRiskLevel { riskLevel count } total } }';
    type State = IdentitiesAnswer & {
      events: { edges: { node: { type: string; providerEventId: string } }[] };
    };
    type Summary = { riskSummary: { byRiskLevel: { riskLevel: string; count: number }[]; total: number } };
    const state = async () => {
      const r = await s.gql<State>(STATE, { pid, id });
      assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
      return r.body.data!;
    };
    const high = async () => {
      const r = await s.gql<Summary>(SUMMARY);
      assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
      return r.body.data!.riskSummary.byRiskLevel.find((c) => c.riskLevel === 'HIGH')!.count;
    };

    const cached = await counted(s.url, async () => ({
      state: [await state(), await state()],
      high: [await high(), await high()],
    }));
    assert.deepEqual(cached.counts, outcomes({ miss: 2, hit: 2 }));
    const [initial] = cached.result.state;
    assert.equal(initial!.identities.edges[0]?.node.riskLevel, 'MEDIUM');
    assert.deepEqual(
      initial!.events.edges.map((e) => e.node.type),
      ['LINE_TYPE_CHANGE'],
    );
    const highBefore = cached.result.high[0]!;

    const port = proveNotification({ identityId: pid, eventType: 'PORT' });
    const written = await postProve(s.url, { notifications: [port] });
    assert.deepEqual(written.body, { accepted: 1, duplicates: 0, rejected: 0 });

    // Right after the 200, without waiting for anything.
    const afterWrite = await counted(s.url, async () => ({ state: await state(), high: await high() }));
    assert.deepEqual(afterWrite.counts, outcomes({ miss: 2 }));
    assert.deepEqual(afterWrite.result.state.identities.edges, [
      { node: { id, status: 'ACTIVE', riskLevel: 'HIGH' } },
    ]);
    assert.deepEqual(
      afterWrite.result.state.events.edges.map((e) => e.node),
      [
        { type: 'PORT', providerEventId: port.eventId },
        { type: 'LINE_TYPE_CHANGE', providerEventId: initial!.events.edges[0]!.node.providerEventId },
      ],
    );
    assert.equal(afterWrite.result.high, highBefore + 1);
  });

  it('shows a mutation at once to a cached query, and never caches a mutation', async () => {
    const customer = `cache-mutation-${randomUUID()}`;
    await feedCaughtUp();
    const list = async () => {
      const r = await s.gql<IdentitiesAnswer>(BY_CUSTOMER, { c: customer });
      assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
      return r.body.data!.identities.edges.map((e) => e.node);
    };

    const empty = await counted(s.url, async () => [await list(), await list()]);
    assert.deepEqual(empty.counts, outcomes({ miss: 1, hit: 1 }));
    assert.deepEqual(empty.result, [[], []]);

    const enrolled = await counted(s.url, () =>
      enrollOk(s.gql, { phoneNumber: '2025550142', clientCustomerId: customer }),
    );
    assert.deepEqual(enrolled.counts, outcomes({ bypass: 1 }));
    const identity: IdentityView = enrolled.result;
    const afterEnroll = await counted(s.url, list);
    assert.deepEqual(afterEnroll.counts, outcomes({ miss: 1 }));
    assert.deepEqual(afterEnroll.result, [{ id: identity.id, status: 'ACTIVE', riskLevel: 'UNKNOWN' }]);

    // The same mutation again runs again: the customer is enrolled now.
    const again = await counted(s.url, () =>
      enroll(s.gql, { phoneNumber: '2025550142', clientCustomerId: customer }),
    );
    assert.deepEqual(again.counts, outcomes({ bypass: 1 }));
    assert.equal(codeOf(again.result), 'ALREADY_ENROLLED');

    const deactivated = await counted(s.url, () =>
      s.gql<{ deactivateIdentity: IdentityView }>(DEACTIVATE, { id: identity.id }),
    );
    assert.deepEqual(deactivated.counts, outcomes({ bypass: 1 }));
    assert.equal(deactivated.result.body.data?.deactivateIdentity.status, 'DEACTIVATED');
    const afterDeactivate = await counted(s.url, list);
    assert.equal(afterDeactivate.counts.hit, 0);
    assert.deepEqual(afterDeactivate.result, [
      { id: identity.id, status: 'DEACTIVATED', riskLevel: 'UNKNOWN' },
    ]);
  });

  it('reads its own writes through the notifier alone, the change feed held back', async () => {
    const { pid, id } = await proveIdentity('LINE_TYPE_CHANGE');
    const customer = `cache-held-${randomUUID()}`;
    const STATE = `query($pid: String!, $id: ID!) {
      identities(filter: { providerIdentityId: $pid }) { edges { node { id status riskLevel } } }
      events(filter: { identityId: $id }) { edges { node { type } } }
    }`;
    type State = IdentitiesAnswer & { events: { edges: { node: { type: string } }[] } };
    const state = async () => {
      const r = await s.gql<State>(STATE, { pid, id });
      assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
      return {
        identity: r.body.data!.identities.edges[0]?.node,
        events: r.body.data!.events.edges.map((e) => e.node.type),
      };
    };
    const list = async () =>
      (await s.gql<IdentitiesAnswer>(BY_CUSTOMER, { c: customer })).body.data?.identities.edges.map(
        (e) => e.node.status,
      );
    const cached = await counted(s.url, async () => [
      await state(),
      await state(),
      await list(),
      await list(),
    ]);
    assert.deepEqual(cached.counts, outcomes({ miss: 2, hit: 2 }));
    assert.deepEqual(cached.result[1], {
      identity: { id, status: 'ACTIVE', riskLevel: 'MEDIUM' },
      events: ['LINE_TYPE_CHANGE'],
    });

    // An older open transaction keeps new events below no horizon: the feed reads none of them, so only
    // the writer's own invalidation can make the writes visible.
    const holder = await holdOpen(s.database.url);
    let released = false;
    try {
      const port = await postProve(s.url, {
        notifications: [proveNotification({ identityId: pid, eventType: 'PORT' })],
      });
      assert.deepEqual(port.body, { accepted: 1, duplicates: 0, rejected: 0 });
      const afterPort = await counted(s.url, state);
      assert.deepEqual(afterPort.counts, outcomes({ miss: 1 }));
      assert.deepEqual(afterPort.result.identity, { id, status: 'ACTIVE', riskLevel: 'HIGH' });
      // The event itself waits for the horizon, cache or not (src/data/event.queries.ts).
      assert.deepEqual(afterPort.result.events, ['LINE_TYPE_CHANGE']);

      await enrollOk(s.gql, { phoneNumber: '2025550143', clientCustomerId: customer });
      assert.deepEqual(await list(), ['ACTIVE']);
      // Cached again, still without the event.
      const held = await counted(s.url, async () => [await state(), await state()]);
      assert.deepEqual(held.counts, outcomes({ miss: 1, hit: 1 }));
      assert.deepEqual(held.result[1]?.events, ['LINE_TYPE_CHANGE']);

      // Once the horizon passes the events, the feed reads them (within its 1 s poll at worst) and the
      // answer cached without them is dropped.
      await holder.query('COMMIT');
      released = true;
      const started = Date.now();
      const latest = await pollUntil(state, (st) => st.events.length === 2, 3000);
      assert.deepEqual(latest.events, ['PORT', 'LINE_TYPE_CHANGE'], `${Date.now() - started} ms after`);
    } finally {
      if (!released) await holder.query('ROLLBACK');
      await holder.end();
    }
  });

  it('never keeps an answer computed while a write committed (the feed held back)', async () => {
    const { id } = await proveIdentity('PORT');
    const token = await s.token();
    const statusOf = async (q: string) => {
      const r = await s.gql<Record<string, { status: string }>>(q, {}, { token });
      return Object.values(r.body.data ?? {})[0]?.status;
    };
    const holder = await holdOpen(s.database.url);
    try {
      let expected = 'ACTIVE';
      for (let round = 0; round < 10; round++) {
        const mutation = expected === 'ACTIVE' ? DEACTIVATE : REACTIVATE;
        expected = expected === 'ACTIVE' ? 'DEACTIVATED' : 'ACTIVE';
        // Four lanes of queries, each its own entry, one after another while the mutation runs: some read
        // before its commit and answer after its invalidation.
        const queries: string[] = [];
        let answered = false;
        const lanes = Array.from({ length: 4 }, async () => {
          while (!answered) {
            const q = `{ r${round}q${queries.length}: identity(id: "${id}") { status } }`;
            queries.push(q);
            await statusOf(q);
          }
        });
        const res = await s.gql<Record<string, IdentityView>>(mutation, { id }, { token });
        answered = true;
        assert.equal(Object.values(res.body.data ?? {})[0]?.status, expected, JSON.stringify(res.body));
        // Begun after the writer's answer, while some of the lanes' queries are still being computed.
        const next = await Promise.all(queries.map(statusOf));
        await Promise.all(lanes);
        const settled = await Promise.all(queries.map(statusOf));
        const stale = [...next, ...settled].filter((st) => st !== expected).length;
        assert.equal(stale, 0, `round ${round}: ${stale} stale answers of ${queries.length * 2}`);
      }
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  });

  it("shows another server's writes on this one within a bounded time, both caching", async () => {
    const other = await startTestServer({ env: CACHE_ENV, database: s.database });
    const otherFeed = await watchFeed(other);
    try {
      const { pid, id } = await proveIdentity('LINE_TYPE_CHANGE');
      await otherFeed.caughtUp();
      const riskOn = async (t: TestServer) => {
        const r = await t.gql<IdentitiesAnswer>(BY_PROVIDER_ID, { pid });
        assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
        return r.body.data!.identities.edges[0]?.node;
      };
      // Cached on both.
      for (const t of [s, other]) {
        const { result, counts } = await counted(t.url, async () => [await riskOn(t), await riskOn(t)]);
        assert.deepEqual(counts, outcomes({ miss: 1, hit: 1 }));
        assert.deepEqual(result, [
          { id, status: 'ACTIVE', riskLevel: 'MEDIUM' },
          { id, status: 'ACTIVE', riskLevel: 'MEDIUM' },
        ]);
      }

      // A webhook through the other server: there at once, here once this feed has read the event.
      const port = proveNotification({ identityId: pid, eventType: 'PORT' });
      assert.equal((await postProve(other.url, { notifications: [port] })).status, 200);
      assert.equal((await riskOn(other))?.riskLevel, 'HIGH');
      const started = Date.now();
      const here = await pollUntil(
        () => riskOn(s),
        (n) => n?.riskLevel === 'HIGH',
        3000,
      );
      assert.equal(here?.riskLevel, 'HIGH', `still ${here?.riskLevel} here ${Date.now() - started} ms later`);

      // And a mutation here reaches the other server's cached answer the same way.
      await otherFeed.caughtUp();
      await riskOn(other);
      const cachedThere = await counted(other.url, () => riskOn(other));
      assert.deepEqual(cachedThere, {
        result: { id, status: 'ACTIVE', riskLevel: 'HIGH' },
        counts: outcomes({ hit: 1 }),
      });
      const res = await s.gql<{ deactivateIdentity: IdentityView }>(DEACTIVATE, { id });
      assert.equal(res.body.data?.deactivateIdentity.status, 'DEACTIVATED');
      assert.equal((await riskOn(s))?.status, 'DEACTIVATED');
      const there = await pollUntil(
        () => riskOn(other),
        (n) => n?.status === 'DEACTIVATED',
        3000,
      );
      assert.equal(there?.status, 'DEACTIVATED');
    } finally {
      await otherFeed.dispose();
      await other.close();
    }
  });

  it("shows another server's writes at its NOTIFY, while the horizon still holds its events back", async () => {
    const other = await startTestServer({ env: CACHE_ENV, database: s.database });
    try {
      const { pid, id } = await proveIdentity('LINE_TYPE_CHANGE');
      const riskHere = async () => (await s.gql<IdentitiesAnswer>(BY_PROVIDER_ID, { pid })).body.data;
      const cached = await counted(s.url, async () => [await riskHere(), await riskHere()]);
      assert.deepEqual(cached.counts, outcomes({ miss: 1, hit: 1 }));
      assert.equal(cached.result[1]?.identities.edges[0]?.node.riskLevel, 'MEDIUM');

      // No feed reads the PORT event while an older transaction is open; the identity row is updated
      // all the same, and only the other server's NOTIFY can tell this one.
      const holder = await holdOpen(s.database.url);
      try {
        const port = proveNotification({ identityId: pid, eventType: 'PORT' });
        assert.equal((await postProve(other.url, { notifications: [port] })).status, 200);
        const started = Date.now();
        const here = await pollUntil(
          riskHere,
          (d) => d?.identities.edges[0]?.node.riskLevel === 'HIGH',
          3000,
        );
        assert.deepEqual(
          here?.identities.edges[0]?.node,
          { id, status: 'ACTIVE', riskLevel: 'HIGH' },
          `${Date.now() - started} ms after the other server answered`,
        );
      } finally {
        await holder.query('ROLLBACK');
        await holder.end();
      }
    } finally {
      await other.close();
    }
  });

  it('never caches webhookDeliveries, introspection, or a query mixing them with cacheable fields', async () => {
    await feedCaughtUp();
    const id = await seedIdentity(s.app.db);
    const DELIVERIES = '{ webhookDeliveries(first: 5) { edges { node { id outcome } } } }';
    const uncacheable = [
      DELIVERIES,
      '{ d: webhookDeliveries(first: 1) { edges { node { id } } } }',
      `{ identity(id: "${id}") { id } webhookDeliveries(first: 1) { edges { node { id } } } }`,
      '{ ... on Query { webhookDeliveries(first: 1) { edges { node { id } } } } }',
      '{ ...D } fragment D on Query { webhookDeliveries(first: 1) { edges { node { id } } } }',
      '{ __schema { queryType { name } } }',
    ];
    for (const q of uncacheable) {
      const { result, counts } = await counted(s.url, async () => [await s.gql(q), await s.gql(q)]);
      assert.deepEqual(counts, outcomes({ bypass: 2 }), q);
      for (const r of result)
        assert.equal(r.body.errors, undefined, `${q}: ${JSON.stringify(r.body.errors)}`);
    }

    // Deliveries change without an event: a later call sees the new delivery. A refusal is recorded
    // after its 401 is sent, so the record may take a moment; this suite's TTL (60 s) far outlasts the wait.
    const earlier = await s.gql<{ webhookDeliveries: { edges: unknown[] } }>(DELIVERIES);
    const bad = await postProve(s.url, { notifications: [proveNotification()] }, { secret: 'whsec_wrong' });
    assert.equal(bad.status, 401);
    const later = await pollUntil(
      () => s.gql<{ webhookDeliveries: { edges: { node: { outcome: string } }[] } }>(DELIVERIES),
      (r) => JSON.stringify(r.body.data) !== JSON.stringify(earlier.body.data),
      5000,
    );
    assert.notDeepEqual(later.body.data, earlier.body.data);
    assert.equal(later.body.data?.webhookDeliveries.edges[0]?.node.outcome, 'invalid_signature');

    // Root fields reached through fragments are cacheable when all of them are.
    const fragments = `{ ... on Query { ...I } } fragment I on Query { identity(id: "${id}") { id } }`;
    const viaFragments = await counted(s.url, async () => [await s.gql(fragments), await s.gql(fragments)]);
    assert.deepEqual(viaFragments.counts, outcomes({ miss: 1, hit: 1 }));
    assert.deepEqual(viaFragments.result[1]?.body, { data: { identity: { id } } });
  });

  it('never caches an answer with errors, whole or partial', async () => {
    await feedCaughtUp();
    const id = await seedIdentity(s.app.db);
    const badId = '{ identity(id: "not-a-uuid") { id } }';
    const bad = await counted(s.url, async () => [await s.gql(badId), await s.gql(badId)]);
    assert.deepEqual(bad.counts, outcomes({ miss: 2 }));
    for (const r of bad.result) assert.equal(codeOf(r), 'BAD_USER_INPUT');

    // Data and an error (Identity.events without events:read): both run.
    const partial = `{ identity(id: "${id}") { id events { edges { cursor } } } }`;
    const token = await s.token(['identities:read']);
    const mixed = await counted(s.url, async () => [
      await s.gql(partial, {}, { token }),
      await s.gql(partial, {}, { token }),
    ]);
    assert.deepEqual(mixed.counts, outcomes({ miss: 2 }));
    for (const r of mixed.result) assert.equal(codeOf(r), 'FORBIDDEN');

    // A missing variable fails in execution: not stored.
    const missing = await counted(s.url, async () => [await s.gql(IDENTITY, {}), await s.gql(IDENTITY, {})]);
    assert.deepEqual(missing.counts, outcomes({ miss: 2 }));
    for (const r of missing.result) assert.ok(r.body.errors?.length, JSON.stringify(r.body));

    // An unknown id is an answer (null), not an error: stored.
    const unknown = `{ identity(id: "${randomUUID()}") { id } }`;
    const none = await counted(s.url, async () => [await s.gql(unknown), await s.gql(unknown)]);
    assert.deepEqual(none.counts, outcomes({ miss: 1, hit: 1 }));
    assert.deepEqual(none.result[1]?.body, { data: { identity: null } });
  });

  it('computes concurrent identical misses once: the others share the answer', async () => {
    const id = await seedIdentity(s.app.db, { riskLevel: 'HIGH', phoneNumber: '+12025550177' });
    await feedCaughtUp();
    const token = await s.token();
    const Q = `query($id: ID!) {
      identity(id: $id) { id phoneNumber status riskLevel events(first: 5) { edges { cursor } } }
      riskSummary { total }
    }`;
    const burst = await counted(s.url, () =>
      Promise.all(Array.from({ length: 20 }, () => s.gql(Q, { id }, { token }))),
    );
    const first = burst.result[0]!;
    assert.equal(first.body.errors, undefined, JSON.stringify(first.body.errors));
    assert.equal(
      (first.body.data as { identity: { phoneNumber: string } }).identity.phoneNumber,
      '+12025550177',
    );
    for (const r of burst.result) {
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, first.body);
    }
    const { hit, shared, miss, bypass } = burst.counts;
    assert.equal(hit + shared + miss, 20, JSON.stringify(burst.counts));
    assert.equal(bypass, 0);
    assert.ok(miss >= 1 && miss < 20, `misses: ${JSON.stringify(burst.counts)}`);
    const next = await counted(s.url, () => s.gql(Q, { id }, { token }));
    assert.deepEqual(next.counts, outcomes({ hit: 1 }));
    assert.deepEqual(next.result.body, first.body);
  });

  it('runs a miss once while it is slow: every identical request meanwhile waits for its answer', async () => {
    const id = await seedIdentity(s.app.db, { riskLevel: 'MEDIUM' });
    await feedCaughtUp();
    const token = await s.token();
    const Q = 'query($id: ID!) { identity(id: $id) { id riskLevel } }';
    // The table held by another transaction: the first miss waits in PostgreSQL until it is released.
    const holder = new pg.Client(s.database.url);
    await holder.connect();
    let burst: ReturnType<typeof counted<Awaited<ReturnType<typeof s.gql>>[]>>;
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE identities IN ACCESS EXCLUSIVE MODE');
      burst = counted(s.url, () =>
        Promise.all(Array.from({ length: 20 }, () => s.gql(Q, { id }, { token }))),
      );
      // Polled outside the holder's transaction, whose view of pg_stat_activity is fixed until it ends.
      const blocked = await pollUntil(
        async () =>
          (
            await s.app.db.query<{ n: number }[]>(
              `SELECT count(*)::int AS n FROM pg_stat_activity
               WHERE datname = current_database() AND wait_event_type = 'Lock'
                 AND query LIKE '%identities%' AND query NOT LIKE '%identity_events%'`,
            )
          )[0]!.n,
        (n) => n > 0,
        5000,
      );
      assert.ok(blocked > 0, 'the first miss never reached PostgreSQL');
      // The others arrive meanwhile; a request waiting for a shared answer shows nowhere until it has it.
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      await holder.query('COMMIT').catch(() => undefined);
      await holder.end();
    }
    const { result, counts } = await burst;
    for (const r of result) assert.deepEqual(r.body, { data: { identity: { id, riskLevel: 'MEDIUM' } } });
    assert.equal(counts.miss, 1, JSON.stringify(counts));
    assert.ok(counts.shared > 0, JSON.stringify(counts));
    assert.equal(counts.shared + counts.hit, 19, JSON.stringify(counts));
  });
});

describe('GraphQL response cache: a commit drops only the answers that read what it changed', () => {
  let s: TestServer;
  let feed: Awaited<ReturnType<typeof watchFeed>>;
  before(async () => {
    s = await startTestServer({ env: CACHE_ENV });
    feed = await watchFeed(s);
  });
  after(async () => {
    await feed.dispose();
    await s.close();
  });

  /** A webhook event for `pid` (creating the identity when new), read by the feed; the identity's id. */
  async function webhook(pid: string, eventType: string): Promise<string> {
    const res = await postProve(s.url, {
      notifications: [proveNotification({ identityId: pid, eventType })],
    });
    assert.deepEqual(res.body, { accepted: 1, duplicates: 0, rejected: 0 });
    await feed.caughtUp();
    const rows = await s.app.db.query<{ id: string }[]>(
      'SELECT id FROM identities WHERE provider_identity_id = $1',
      [pid],
    );
    return rows[0]!.id;
  }
  const DETAIL = `query($id: ID!) {
    identity(id: $id) { id riskLevel events(first: 5) { edges { node { type } } } }
  }`;
  type Detail = {
    identity: { id: string; riskLevel: string; events: { edges: { node: { type: string } }[] } };
  };
  const detail = async (id: string) => {
    const r = await s.gql<Detail>(DETAIL, { id });
    assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
    return r.body.data!.identity;
  };

  it("keeps an identity's cached answers through writes to other identities, and drops them at its own", async () => {
    const a = await webhook(`tags-a-${randomUUID()}`, 'LINE_TYPE_CHANGE');
    const pidB = `tags-b-${randomUUID()}`;
    const b = await webhook(pidB, 'LINE_TYPE_CHANGE');
    for (const id of [a, b])
      assert.deepEqual((await counted(s.url, () => detail(id))).counts, outcomes({ miss: 1 }));

    await webhook(pidB, 'PORT');
    const kept = await counted(s.url, () => detail(a));
    assert.deepEqual(kept.counts, outcomes({ hit: 1 }), 'a write to another identity leaves it cached');
    const dropped = await counted(s.url, () => detail(b));
    assert.deepEqual(dropped.counts, outcomes({ miss: 1 }));
    assert.equal(dropped.result.riskLevel, 'HIGH');
    assert.deepEqual(
      dropped.result.events.edges.map((e) => e.node.type),
      ['PORT', 'LINE_TYPE_CHANGE'],
      'its events too (read through the loader)',
    );
  });

  it('keeps a first page of identities through writes to older ones, and drops it when a new one appears', async () => {
    const older = `tags-old-${randomUUID()}`;
    await webhook(older, 'LINE_TYPE_CHANGE');
    const newest = [
      await webhook(`tags-n1-${randomUUID()}`, 'PORT'),
      await webhook(`tags-n2-${randomUUID()}`, 'PORT'),
    ];
    const FIRST_PAGE =
      '{ identities(first: 2) { edges { node { id riskLevel } } pageInfo { hasNextPage } } }';
    type Page = { identities: { edges: { node: { id: string } }[]; pageInfo: { hasNextPage: boolean } } };
    const page = async () => {
      const r = await s.gql<Page>(FIRST_PAGE);
      assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
      return r.body.data!.identities;
    };
    const first = await counted(s.url, page);
    assert.deepEqual(first.counts, outcomes({ miss: 1 }));
    assert.deepEqual(
      first.result.edges.map((e) => e.node.id),
      [...newest].reverse(),
    );
    assert.equal(first.result.pageInfo.hasNextPage, true);

    await webhook(older, 'PORT');
    assert.deepEqual(
      (await counted(s.url, page)).counts,
      outcomes({ hit: 1 }),
      'an older identity is not on it',
    );

    const created = await webhook(`tags-n3-${randomUUID()}`, 'DISCONNECT');
    const after = await counted(s.url, page);
    assert.deepEqual(after.counts, outcomes({ miss: 1 }));
    assert.deepEqual(
      after.result.edges.map((e) => e.node.id),
      [created, newest[1]],
    );
  });

  it("drops riskSummary and an unfiltered events list at any commit, one identity's events only at its own", async () => {
    const pidA = `tags-ev-a-${randomUUID()}`;
    await webhook(pidA, 'LINE_TYPE_CHANGE');
    const b = await webhook(`tags-ev-b-${randomUUID()}`, 'LINE_TYPE_CHANGE');
    const queries: [string, string, Record<string, unknown>][] = [
      ['riskSummary', '{ riskSummary { total } }', {}],
      ['events', '{ events(first: 5) { edges { node { id } } } }', {}],
      [
        "B's events",
        'query($id: ID!) { events(first: 5, filter: { identityId: $id }) { edges { node { id } } } }',
        { id: b },
      ],
    ];
    for (const [, q, v] of queries)
      assert.deepEqual((await counted(s.url, () => s.gql(q, v))).counts, outcomes({ miss: 1 }));
    await webhook(pidA, 'PORT');
    const outcomesAfter = [];
    for (const [name, q, v] of queries)
      outcomesAfter.push([name, (await counted(s.url, () => s.gql(q, v))).counts]);
    assert.deepEqual(outcomesAfter, [
      ['riskSummary', outcomes({ miss: 1 })],
      ['events', outcomes({ miss: 1 })],
      ["B's events", outcomes({ hit: 1 })],
    ]);
  });
});

describe('GraphQL response cache: a change it cannot hear of (TTL 300 ms)', () => {
  const TTL = 300;
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ env: { ...WEBHOOK_ENV, GRAPHQL_CACHE_TTL_MS: String(TTL) } });
  });
  after(() => s.close());

  it('serves an SQL change stale while the entry lives, and fresh once the TTL has passed', async () => {
    // By SQL, without events: neither the notifier nor the change feed hears of it.
    const id = await seedIdentity(s.app.db, { riskLevel: 'LOW' });
    const risk = async () => {
      const r = await s.gql<{ identity: IdentityNode }>(IDENTITY, { id });
      assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
      return r.body.data!.identity.riskLevel;
    };
    const asked = Date.now();
    const stored = await counted(s.url, risk);
    const storedAt = Date.now(); // at the latest
    assert.deepEqual(stored, { result: 'LOW', counts: outcomes({ miss: 1 }) });

    await s.app.db.query(`UPDATE identities SET risk_level = 'HIGH' WHERE id = $1`, [id]);
    const stale = await counted(s.url, risk);
    assert.ok(Date.now() - asked < TTL, 'the stale read came too late to test anything');
    assert.deepEqual(stale, { result: 'LOW', counts: outcomes({ hit: 1 }) });

    await new Promise((r) => setTimeout(r, TTL + 100 - (Date.now() - storedAt)));
    const fresh = await counted(s.url, risk);
    assert.deepEqual(fresh, { result: 'HIGH', counts: outcomes({ miss: 1 }) });
  });
});

describe('GraphQL response cache off (GRAPHQL_CACHE_TTL_MS=0)', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ env: { ...WEBHOOK_ENV, GRAPHQL_CACHE_TTL_MS: '0' } });
  });
  after(() => s.close());

  it('never answers from memory, and exports no cache metric', async () => {
    const id = await seedIdentity(s.app.db, { riskLevel: 'LOW' });
    const risk = async () =>
      (await s.gql<{ identity: IdentityNode }>(IDENTITY, { id })).body.data?.identity.riskLevel;
    assert.deepEqual([await risk(), await risk(), await risk()], ['LOW', 'LOW', 'LOW']);
    // Even a change no one hears of shows at once.
    await s.app.db.query(`UPDATE identities SET risk_level = 'MEDIUM' WHERE id = $1`, [id]);
    assert.equal(await risk(), 'MEDIUM');
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    assert.match(metrics, /graphql_operation_duration_seconds_count/);
    assert.doesNotMatch(metrics, /graphql_response_cache_total/);
  });
});
