import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import pg from 'pg';
import { SCOPES } from '../../src/auth/scopes.js';
import { urlFor } from '../helpers/db.js';
import { pollUntil } from '../helpers/poll.js';
import { clearData, seedDeliveries, seedEvents, seedIdentities, seedIdentity } from '../helpers/seed.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

interface Page<N> {
  edges: { cursor: string; node: N }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

const IDENTITIES = `query($filter: IdentityFilter, $first: Int, $after: String) {
  identities(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id status riskLevel provider clientCustomerId providerIdentityId } }
    pageInfo { hasNextPage endCursor }
  }
}`;

const EVENTS = `query($filter: EventFilter, $first: Int, $after: String) {
  events(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id cursor type } }
    pageInfo { hasNextPage endCursor }
  }
}`;

describe('GraphQL queries', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());
  beforeEach(() => clearData(s.app.db));

  /** Follows endCursor page by page; fails on a repeated node. */
  async function walk<N extends { id: string }>(
    query: string,
    field: string,
    variables: Record<string, unknown>,
    first: number,
  ): Promise<{ nodes: N[]; pages: Page<N>[] }> {
    const nodes: N[] = [];
    const pages: Page<N>[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 100; i++) {
      const res: Awaited<ReturnType<typeof s.gql<Record<string, Page<N>>>>> = await s.gql(query, {
        ...variables,
        first,
        after: cursor,
      });
      assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
      const page = res.body.data![field]!;
      pages.push(page);
      for (const e of page.edges) {
        assert.ok(!nodes.some((n) => n.id === e.node.id), `node ${e.node.id} repeated`);
        nodes.push(e.node);
      }
      if (!page.pageInfo.hasNextPage) return { nodes, pages };
      assert.equal(page.pageInfo.endCursor, page.edges.at(-1)?.cursor);
      cursor = page.pageInfo.endCursor;
    }
    throw new Error('more than 100 pages');
  }

  describe('identities', () => {
    it('lists identities newest first by (createdAt, id), page after page, without gap or repeat', async () => {
      await seedIdentities(s.app.db, [
        { createdAt: '2025-01-01 00:00:00+00' },
        { createdAt: '2025-01-03 00:00:00+00' },
        // Two identities 1 µs apart: a millisecond cursor would skip or repeat one of them.
        { createdAt: '2025-01-02 00:00:00.000001+00' },
        { createdAt: '2025-01-02 00:00:00.000002+00' },
        // Same instant: the id breaks the tie.
        { createdAt: '2025-01-02 12:00:00+00' },
        { createdAt: '2025-01-02 12:00:00+00' },
        { createdAt: '2025-01-02 12:00:00+00' },
      ]);
      const expected = (
        await s.app.db.query<{ id: string }[]>('SELECT id FROM identities ORDER BY created_at DESC, id DESC')
      ).map((r) => r.id);
      for (const first of [1, 2, 3, 7]) {
        const { nodes, pages } = await walk<{ id: string }>(IDENTITIES, 'identities', {}, first);
        assert.deepEqual(
          nodes.map((n) => n.id),
          expected,
          `first: ${first}`,
        );
        assert.equal(pages.length, Math.ceil(expected.length / first));
        assert.ok(pages.slice(0, -1).every((p) => p.pageInfo.hasNextPage));
      }
    });

    it('answers an empty connection when there is nothing', async () => {
      const res = await s.gql<{ identities: Page<unknown> }>(IDENTITIES);
      assert.deepEqual(res.body.data?.identities, {
        edges: [],
        pageInfo: { hasNextPage: false, endCursor: null },
      });
    });

    it('filters by each IdentityFilter field, and by several at once', async () => {
      const [a, b, c, d] = await seedIdentities(s.app.db, [
        { status: 'ACTIVE', riskLevel: 'HIGH', provider: 'PROVE', clientCustomerId: 'c-1' },
        { status: 'ENDED', riskLevel: 'HIGH', provider: 'PASSBASE', providerIdentityId: 'pb-key-1' },
        { status: 'DEACTIVATED', riskLevel: 'LOW', provider: 'VOVE', clientCustomerId: 'c-2' },
        { status: 'ACTIVE', riskLevel: 'MEDIUM', provider: 'PROVE', providerIdentityId: 'prove-9' },
      ]);
      const ids = async (filter: Record<string, unknown>) => {
        const res = await s.gql<{ identities: Page<{ id: string }> }>(IDENTITIES, { filter });
        assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
        return new Set(res.body.data!.identities.edges.map((e) => e.node.id));
      };
      assert.deepEqual(await ids({ status: 'ACTIVE' }), new Set([a, d]));
      assert.deepEqual(await ids({ riskLevel: 'HIGH' }), new Set([a, b]));
      assert.deepEqual(await ids({ provider: 'VOVE' }), new Set([c]));
      assert.deepEqual(await ids({ clientCustomerId: 'c-2' }), new Set([c]));
      assert.deepEqual(await ids({ providerIdentityId: 'pb-key-1' }), new Set([b]));
      assert.deepEqual(await ids({ status: 'ACTIVE', riskLevel: 'MEDIUM', provider: 'PROVE' }), new Set([d]));
      assert.deepEqual(await ids({ status: 'ENDED', provider: 'PROVE' }), new Set());
      assert.deepEqual(await ids({ status: null }), new Set([a, b, c, d]));
    });

    it('pages through a filtered list with its cursors', async () => {
      await seedIdentities(
        s.app.db,
        Array.from({ length: 9 }, (_, i) => ({
          riskLevel: i % 3 === 0 ? 'HIGH' : 'LOW',
          createdAt: `2025-02-0${i + 1} 00:00:00+00`,
        })),
      );
      const { nodes } = await walk<{ id: string; riskLevel: string }>(
        IDENTITIES,
        'identities',
        { filter: { riskLevel: 'HIGH' } },
        2,
      );
      assert.equal(nodes.length, 3);
      assert.ok(nodes.every((n) => n.riskLevel === 'HIGH'));
    });

    it('masks phoneNumber without pii:read and shows it with pii:read', async () => {
      const id = await seedIdentity(s.app.db, { phoneNumber: '+12025550188' });
      const q = `{ identity(id: "${id}") { phoneNumber } identities { edges { node { phoneNumber } } } }`;
      const masked = await s.gql<{
        identity: { phoneNumber: string };
        identities: Page<{ phoneNumber: string }>;
      }>(q, {}, { token: await s.token(['identities:read']) });
      assert.equal(masked.body.data?.identity.phoneNumber, '********0188');
      assert.equal(masked.body.data?.identities.edges[0]?.node.phoneNumber, '********0188');
      const clear = await s.gql<{ identity: { phoneNumber: string } }>(
        q,
        {},
        { token: await s.token(['identities:read', 'pii:read']) },
      );
      assert.equal(clear.body.data?.identity.phoneNumber, '+12025550188');
    });

    it('answers null for an unknown identity id and BAD_USER_INPUT for a malformed one', async () => {
      const unknown = await s.gql('{ identity(id: "8B0E7D3C-5A3B-4F57-9A2B-1C2D3E4F5A6B") { id } }');
      assert.deepEqual(unknown.body, { data: { identity: null } });
      const bad = await s.gql('{ identity(id: "not-a-uuid") { id } }');
      assert.equal(bad.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
      assert.match(bad.body.errors?.[0]?.message ?? '', /identity id must be a UUID/);
    });
  });

  describe('events', () => {
    it('lists events newest first by (tx_id, id), events of one transaction included, without gap or repeat', async () => {
      const [x, y] = await seedIdentities(s.app.db, [{}, {}]);
      // occurredAt deliberately disagrees with the storage order: the list follows the ADR, not occurredAt.
      await seedEvents(s.app.db, [{ identityId: x!, occurredAt: '2025-03-05T00:00:00Z' }]);
      const batch = await seedEvents(s.app.db, [
        { identityId: x!, occurredAt: '2025-03-01T00:00:00Z' },
        { identityId: y!, occurredAt: '2025-03-09T00:00:00Z' },
        { identityId: x!, occurredAt: '2025-03-02T00:00:00Z' },
        { identityId: y!, occurredAt: '2025-03-03T00:00:00Z' },
      ]);
      assert.equal(new Set(batch.map((e) => e.txId)).size, 1, 'one statement, one transaction id');
      await seedEvents(
        s.app.db,
        [
          { identityId: y!, occurredAt: '2025-03-04T00:00:00Z' },
          { identityId: x!, occurredAt: '2025-02-01T00:00:00Z' },
        ],
        { oneTransaction: false },
      );
      const expected = (
        await s.app.db.query<{ id: string }[]>(
          'SELECT e.id::text AS id FROM identity_events e ORDER BY e.tx_id DESC, e.id DESC',
        )
      ).map((r) => r.id);
      for (const first of [1, 2, 3, 4, 10]) {
        // Events are listed behind the visibility horizon, which a transaction of another test file's
        // database can hold back for a moment (docs/adr/0003-event-order.md): late, never lost.
        const { nodes } = await pollUntil(
          () => walk<{ id: string; cursor: string }>(EVENTS, 'events', {}, first),
          (w) => w.nodes.length === expected.length,
          5000,
        );
        assert.deepEqual(
          nodes.map((n) => n.id),
          expected,
          `first: ${first}`,
        );
      }
      // Resuming right after an event in the middle of the shared transaction.
      const all = (await walk<{ id: string; cursor: string }>(EVENTS, 'events', {}, 10)).nodes;
      const middle = all.findIndex((n) => n.id === batch[2]!.id);
      const rest = await s.gql<{ events: Page<{ id: string }> }>(EVENTS, { after: all[middle]!.cursor });
      assert.deepEqual(
        rest.body.data?.events.edges.map((e) => e.node.id),
        expected.slice(middle + 1),
      );
    });

    it('filters events by identityId, types, providers and occurredAt range', async () => {
      const [x, y] = await seedIdentities(s.app.db, [{}, { provider: 'VOVE' }]);
      const seeded = await seedEvents(s.app.db, [
        { identityId: x!, type: 'PORT', occurredAt: '2025-04-01T00:00:00Z' },
        { identityId: x!, type: 'DISCONNECT', occurredAt: '2025-04-02T00:00:00Z' },
        {
          identityId: x!,
          type: 'LINE_TYPE_CHANGE',
          rawType: 'LINETYPE_CHANGE',
          occurredAt: '2025-04-03T00:00:00Z',
        },
        {
          identityId: y!,
          type: 'VERIFICATION_STATUS_CHANGED',
          provider: 'VOVE',
          rawType: 'suspected',
          occurredAt: '2025-04-02T12:00:00Z',
        },
      ]);
      const [port, disconnect, lineType, vove] = seeded.map((e) => e.id);
      const ids = async (filter: Record<string, unknown>) => {
        const res = await s.gql<{ events: Page<{ id: string }> }>(EVENTS, { filter });
        assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
        return res.body.data!.events.edges.map((e) => e.node.id);
      };
      assert.deepEqual(await ids({ identityId: x }), [lineType, disconnect, port]);
      assert.deepEqual(await ids({ identityId: y!.toUpperCase() }), [vove]);
      assert.deepEqual(await ids({ types: ['PORT', 'LINE_TYPE_CHANGE'] }), [lineType, port]);
      assert.deepEqual(await ids({ providers: ['VOVE'] }), [vove]);
      assert.deepEqual(await ids({ providers: ['PROVE', 'PASSBASE'] }), [lineType, disconnect, port]);
      // occurredAfter is inclusive, occurredBefore exclusive.
      assert.deepEqual(
        await ids({ occurredAfter: '2025-04-02T00:00:00Z', occurredBefore: '2025-04-03T00:00:00Z' }),
        [vove, disconnect],
      );
      assert.deepEqual(await ids({ occurredAfter: '2025-04-02T12:00:00.001Z' }), [lineType]);
      assert.deepEqual(await ids({ occurredBefore: '2025-04-02T00:00:00Z' }), [port]);
      assert.deepEqual(await ids({ identityId: x, types: ['DISCONNECT'], providers: ['PROVE'] }), [
        disconnect,
      ]);
      assert.deepEqual(await ids({ identityId: '8b0e7d3c-5a3b-4f57-9a2b-1c2d3e4f5a6b' }), []);
    });

    it('serves every IdentityEvent field, with its identity, to a reader holding only events:read', async () => {
      const id = await seedIdentity(s.app.db, {
        phoneNumber: '+12025550177',
        status: 'ENDED',
        riskLevel: 'HIGH',
      });
      const [ev] = await seedEvents(s.app.db, [
        {
          identityId: id,
          type: 'LINE_TYPE_CHANGE',
          rawType: 'LINETYPE_CHANGE',
          providerEventId: 'evt-1',
          description: 'line type changed',
          occurredAt: '2025-05-01T10:11:12.345Z',
          newCarrier: 'Carrier X',
          newLineType: 'mobile',
        },
      ]);
      const res = await s.gql<{ events: Page<Record<string, unknown>> }>(
        `{ events { edges { cursor node {
            id cursor type rawType provider providerEventId description occurredAt receivedAt
            newCarrier newLineType verificationStatus
            identity { id status riskLevel phoneNumber }
        } } } }`,
        {},
        { token: await s.token(['events:read']) },
      );
      assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
      const edge = res.body.data!.events.edges[0]!;
      const { receivedAt, ...node } = edge.node;
      assert.equal(edge.cursor, node.cursor);
      assert.ok(!Number.isNaN(Date.parse(receivedAt as string)));
      assert.deepEqual(node, {
        id: ev!.id,
        cursor: node.cursor,
        type: 'LINE_TYPE_CHANGE',
        rawType: 'LINETYPE_CHANGE',
        provider: 'PROVE',
        providerEventId: 'evt-1',
        description: 'line type changed',
        occurredAt: '2025-05-01T10:11:12.345Z',
        newCarrier: 'Carrier X',
        newLineType: 'mobile',
        verificationStatus: null,
        identity: { id, status: 'ENDED', riskLevel: 'HIGH', phoneNumber: '********0177' },
      });
    });

    it('pages through Identity.events of each identity on its own', async () => {
      const [x, y] = await seedIdentities(s.app.db, [
        { createdAt: '2025-01-02 00:00:00+00' },
        { createdAt: '2025-01-01 00:00:00+00' },
      ]);
      const shared = await seedEvents(s.app.db, [
        { identityId: x! },
        { identityId: y! },
        { identityId: x! },
        { identityId: x! },
      ]);
      const own = await seedEvents(s.app.db, [{ identityId: x! }, { identityId: y! }, { identityId: x! }], {
        oneTransaction: false,
      });
      const expectedX = [own[2]!, own[0]!, shared[3]!, shared[2]!, shared[0]!].map((e) => e.id);
      const q = `query($id: ID!, $first: Int, $after: String) {
        identity(id: $id) { events(first: $first, after: $after) {
          edges { cursor node { id identity { id } } } pageInfo { hasNextPage endCursor } } }
      }`;
      const seen: string[] = [];
      let cursor: string | null = null;
      for (;;) {
        type Data = { identity: { events: Page<{ id: string; identity: { id: string } }> } };
        const res: Awaited<ReturnType<typeof s.gql<Data>>> = await s.gql(q, {
          id: x,
          first: 2,
          after: cursor,
        });
        assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
        const page = res.body.data!.identity.events;
        for (const e of page.edges) {
          assert.equal(e.node.identity.id, x);
          seen.push(e.node.id);
        }
        if (!page.pageInfo.hasNextPage) break;
        cursor = page.pageInfo.endCursor;
      }
      assert.deepEqual(seen, expectedX);

      // The same cursor shapes one page per identity in a list: each sees only its own events.
      const list = await s.gql<{
        identities: Page<{ id: string; events: Page<{ id: string }> }>;
      }>(`{ identities { edges { node { id events(first: 1) {
            edges { node { id } } pageInfo { hasNextPage } } } } } }`);
      const [nx, ny] = list.body.data!.identities.edges.map((e) => e.node);
      assert.equal(nx?.id, x);
      assert.deepEqual(
        nx?.events.edges.map((e) => e.node.id),
        [own[2]!.id],
      );
      assert.equal(nx?.events.pageInfo.hasNextPage, true);
      assert.deepEqual(
        ny?.events.edges.map((e) => e.node.id),
        [own[1]!.id],
      );
      assert.equal(ny?.events.pageInfo.hasNextPage, true);
    });

    it('shows events behind a transaction open in another database, not behind one open in its own', async () => {
      const id = await seedIdentity(s.app.db);
      const ids = async () => {
        const res = await s.gql<{ events: Page<{ id: string }> }>(EVENTS, { filter: { identityId: id } });
        assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
        return res.body.data!.events.edges.map((e) => e.node.id);
      };
      // A transaction with an id, left open: elsewhere in the cluster, then in this server's database.
      const holdOpen = async (url: string) => {
        const c = new pg.Client(url);
        await c.connect();
        await c.query('BEGIN');
        await c.query('SELECT pg_current_xact_id()');
        return c;
      };
      const elsewhere = await holdOpen(urlFor('postgres'));
      try {
        const [first] = await seedEvents(s.app.db, [{ identityId: id }]);
        assert.deepEqual(await ids(), [first!.id], 'another database cannot write our events');

        const here = await holdOpen(s.database.url);
        const [second] = await seedEvents(s.app.db, [{ identityId: id }]);
        assert.deepEqual(await ids(), [first!.id], 'an older transaction here may still commit an event');
        await here.query('COMMIT');
        await here.end();
        assert.deepEqual(await ids(), [second!.id, first!.id]);
      } finally {
        await elsewhere.query('ROLLBACK');
        await elsewhere.end();
      }
    });

    it('refuses Identity.events without events:read while the identity itself is readable', async () => {
      const id = await seedIdentity(s.app.db);
      const token = await s.token(['identities:read']);
      const plain = await s.gql(`{ identity(id: "${id}") { id status } }`, {}, { token });
      assert.deepEqual(plain.body, { data: { identity: { id, status: 'ACTIVE' } } });
      const res = await s.gql(`{ identity(id: "${id}") { id events { edges { cursor } } } }`, {}, { token });
      const [err] = res.body.errors ?? [];
      assert.equal(err?.extensions?.code, 'FORBIDDEN');
      assert.match(err?.message ?? '', /events:read/);
      assert.deepEqual((err as { path?: unknown })?.path, ['identity', 'events']);
    });
  });

  describe('riskSummary', () => {
    const Q = `query($provider: Provider) { riskSummary(provider: $provider) {
      byRiskLevel { riskLevel count } byStatus { status count } total } }`;

    it('counts identities by risk level and status, every value listed in enum order, zeros included', async () => {
      await seedIdentities(s.app.db, [
        { riskLevel: 'HIGH', status: 'ENDED' },
        { riskLevel: 'HIGH', status: 'ACTIVE' },
        { riskLevel: 'LOW', status: 'ACTIVE', provider: 'VOVE' },
        { riskLevel: 'HIGH', status: 'ACTIVE', provider: 'PASSBASE' },
      ]);
      const all = await s.gql(Q);
      assert.deepEqual(all.body.data, {
        riskSummary: {
          byRiskLevel: [
            { riskLevel: 'UNKNOWN', count: 0 },
            { riskLevel: 'LOW', count: 1 },
            { riskLevel: 'MEDIUM', count: 0 },
            { riskLevel: 'HIGH', count: 3 },
          ],
          byStatus: [
            { status: 'ACTIVE', count: 3 },
            { status: 'DEACTIVATED', count: 0 },
            { status: 'ENDED', count: 1 },
          ],
          total: 4,
        },
      });
      const prove = await s.gql(Q, { provider: 'PROVE' });
      assert.deepEqual(prove.body.data, {
        riskSummary: {
          byRiskLevel: [
            { riskLevel: 'UNKNOWN', count: 0 },
            { riskLevel: 'LOW', count: 0 },
            { riskLevel: 'MEDIUM', count: 0 },
            { riskLevel: 'HIGH', count: 2 },
          ],
          byStatus: [
            { status: 'ACTIVE', count: 1 },
            { status: 'DEACTIVATED', count: 0 },
            { status: 'ENDED', count: 1 },
          ],
          total: 2,
        },
      });
    });

    it('answers all zeros for an empty database', async () => {
      const res = await s.gql<{ riskSummary: { byRiskLevel: { count: number }[]; total: number } }>(Q);
      assert.equal(res.body.data?.riskSummary.total, 0);
      assert.deepEqual(
        res.body.data?.riskSummary.byRiskLevel.map((r) => r.count),
        [0, 0, 0, 0],
      );
    });
  });

  describe('webhookDeliveries', () => {
    const Q = `query($provider: Provider, $outcome: String, $first: Int, $after: String) {
      webhookDeliveries(provider: $provider, outcome: $outcome, first: $first, after: $after) {
        edges { cursor node { id provider receivedAt outcome correlationId eventCount duplicateCount } }
        pageInfo { hasNextPage endCursor }
      } }`;

    it('lists deliveries newest first and filters them by provider and outcome', async () => {
      const [a, b, c, d, e] = await seedDeliveries(s.app.db, [
        {
          provider: 'PROVE',
          outcome: 'accepted',
          receivedAt: '2025-06-01 00:00:00.000001+00',
          eventCount: 3,
        },
        { provider: 'PROVE', outcome: 'invalid_signature', receivedAt: '2025-06-01 00:00:00.000002+00' },
        {
          provider: 'VOVE',
          outcome: 'accepted',
          receivedAt: '2025-06-02 00:00:00+00',
          correlationId: 'corr-7',
          eventCount: 1,
          duplicateCount: 1,
        },
        { provider: 'PASSBASE', outcome: 'spooled', receivedAt: '2025-06-03 00:00:00+00' },
        { provider: 'PROVE', outcome: 'accepted', receivedAt: '2025-06-04 00:00:00+00' },
      ]);
      const { nodes } = await walk<{ id: string }>(Q, 'webhookDeliveries', {}, 2);
      assert.deepEqual(
        nodes.map((n) => n.id),
        [e, d, c, b, a],
      );
      assert.deepEqual(nodes[2], {
        id: c,
        provider: 'VOVE',
        receivedAt: '2025-06-02T00:00:00.000Z',
        outcome: 'accepted',
        correlationId: 'corr-7',
        eventCount: 1,
        duplicateCount: 1,
      });
      const ids = async (variables: Record<string, unknown>) =>
        (await walk<{ id: string }>(Q, 'webhookDeliveries', variables, 1)).nodes.map((n) => n.id);
      assert.deepEqual(await ids({ provider: 'PROVE' }), [e, b, a]);
      assert.deepEqual(await ids({ outcome: 'accepted' }), [e, c, a]);
      assert.deepEqual(await ids({ provider: 'PROVE', outcome: 'invalid_signature' }), [b]);
      assert.deepEqual(await ids({ outcome: 'spooled' }), [d]);
      assert.deepEqual(await ids({ outcome: 'no_such_outcome' }), []);
    });
  });

  describe('scopes', () => {
    const id = '8b0e7d3c-5a3b-4f57-9a2b-1c2d3e4f5a6b';
    const cases: [string, string, string][] = [
      ['identity', `{ identity(id: "${id}") { id } }`, 'identities:read'],
      ['identities', '{ identities { edges { cursor } } }', 'identities:read'],
      ['riskSummary', '{ riskSummary { total } }', 'identities:read'],
      ['events', '{ events { edges { cursor } } }', 'events:read'],
      ['webhookDeliveries', '{ webhookDeliveries { edges { cursor } } }', 'deliveries:read'],
    ];
    const ALL = SCOPES;

    it("gives an events:read reader each event's identity, as the contract's rule says, phoneNumber masked, not identity(id)", async () => {
      // Contract, Auth: nested fields follow their root, except phoneNumber (pii:read) and Identity.events.
      const identityId = await seedIdentity(s.app.db, {
        phoneNumber: '+12025550188',
        clientCustomerId: 'cust-rule',
        providerIdentityId: 'prove-rule',
        riskLevel: 'MEDIUM',
      });
      await seedEvents(s.app.db, [{ identityId, type: 'PORT' }]);
      const token = await s.token(['events:read']);
      const query = `{ events { edges { node { identity {
          id status riskLevel phoneNumber clientCustomerId providerIdentityId provider
          events { edges { cursor } }
        } } } } }`;
      // Twice: the second run is compiled by graphql-jit (src/graphql/executor.ts) and must mask alike.
      for (const run of ['first', 'compiled']) {
        const res = await s.gql<{ events: Page<{ identity: Record<string, unknown> }> }>(
          query,
          {},
          { token },
        );
        assert.equal(res.body.errors, undefined, `${run}: ${JSON.stringify(res.body.errors)}`);
        const { events, ...identity } = res.body.data!.events.edges[0]!.node.identity;
        assert.deepEqual(
          identity,
          {
            id: identityId,
            status: 'ACTIVE',
            riskLevel: 'MEDIUM',
            phoneNumber: '********0188',
            clientCustomerId: 'cust-rule',
            providerIdentityId: 'prove-rule',
            provider: 'PROVE',
          },
          run,
        );
        assert.equal((events as Page<unknown>).edges.length, 1, 'Identity.events: the token has events:read');
      }
      const root = await s.gql(`{ identity(id: "${identityId}") { id } }`, {}, { token });
      assert.equal(
        root.body.errors?.[0]?.extensions?.code,
        'FORBIDDEN',
        'the root field still needs identities:read',
      );
      const withPii = await s.gql<{ events: Page<{ identity: { phoneNumber: string } }> }>(
        '{ events { edges { node { identity { phoneNumber } } } } }',
        {},
        { token: await s.token(['events:read', 'pii:read']) },
      );
      assert.equal(withPii.body.data?.events.edges[0]?.node.identity.phoneNumber, '+12025550188');
    });

    for (const [field, query, scope] of cases) {
      it(`answers ${field} UNAUTHENTICATED without a token, FORBIDDEN without ${scope}, data with it`, async () => {
        const anonymous = await s.gql(query, {}, { token: null });
        assert.equal(anonymous.body.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
        assert.equal((anonymous.body.data as Record<string, unknown> | undefined)?.[field] ?? null, null);
        const without = await s.gql(query, {}, { token: await s.token(ALL.filter((x) => x !== scope)) });
        assert.equal(without.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
        assert.match(without.body.errors?.[0]?.message ?? '', new RegExp(scope));
        const withIt = await s.gql(query, {}, { token: await s.token([scope]) });
        assert.equal(withIt.body.errors, undefined, JSON.stringify(withIt.body.errors));
        assert.ok(withIt.body.data);
      });
    }
  });
});
