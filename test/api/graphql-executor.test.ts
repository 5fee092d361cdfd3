import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { seedEvents, seedIdentities } from '../helpers/seed.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * Compiled execution (src/graphql/executor.ts, docs/adr/0006-graphql-throughput.md): a query runs on
 * graphql-js the first time the server sees it and compiled by graphql-jit from the second time on. So
 * sending each query twice compares the two engines through the whole stack (Apollo, error masking,
 * HTTP status), and /metrics tells which engine ran.
 */

type Body = {
  data?: unknown;
  errors?: { message: string; path?: unknown; extensions?: Record<string, unknown> }[];
};

describe('compiled GraphQL execution (graphql-jit)', () => {
  let s: TestServer;
  let identityId: string;
  let token: { all: string; noEvents: string; noPii: string };

  before(async () => {
    s = await startTestServer();
    const ids = await seedIdentities(s.app.db, [
      { phoneNumber: '+12025550188', clientCustomerId: 'c-1', createdAt: '2025-01-01 00:00:00+00' },
      { phoneNumber: null, provider: 'PASSBASE', createdAt: '2025-01-02 00:00:00+00' },
      { status: 'ENDED', riskLevel: 'HIGH', createdAt: '2025-01-03 00:00:00+00' },
    ]);
    identityId = ids[0]!;
    await seedEvents(
      s.app.db,
      ids.flatMap((id, n) =>
        ['PORT', 'LINE_TYPE_CHANGE', 'DISCONNECT'].map((type, k) => ({
          identityId: id,
          type: type as 'PORT',
          occurredAt: `2025-02-0${n + 1}T0${k}:00:00Z`,
          ...(type === 'PORT' ? { newCarrier: 'Verizon' } : {}),
        })),
      ),
    );
    token = {
      all: await s.token(),
      noEvents: await s.token(['identities:read', 'pii:read']),
      noPii: await s.token(['identities:read', 'events:read']),
    };
  });
  after(() => s.close());

  async function post(query: string, variables: Record<string, unknown> | undefined, bearer: string | null) {
    const res = await fetch(`${s.url}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
      },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, body: (await res.json()) as Body };
  }

  /** `graphql_executions_total` by engine, from /metrics. */
  async function executions(): Promise<Record<'jit' | 'graphql-js', number>> {
    const text = await (await fetch(`${s.url}/metrics`)).text();
    const count = (engine: string) =>
      Number(
        new RegExp(`^graphql_executions_total\\{engine="${engine}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0,
      );
    return { jit: count('jit'), 'graphql-js': count('graphql-js') };
  }

  /** Sends the query twice (graphql-js, then compiled); both answers must be the same. Returns it. */
  async function bothEngines(
    query: string,
    variables?: Record<string, unknown>,
    bearer: string | null = token.all,
  ) {
    const before = await executions();
    const interpreted = await post(query, variables, bearer);
    const middle = await executions();
    const compiled = await post(query, variables, bearer);
    const end = await executions();
    assert.equal(middle['graphql-js'] - before['graphql-js'], 1, 'first run on graphql-js');
    assert.equal(end.jit - middle.jit, 1, 'second run compiled');
    assert.deepEqual(compiled, interpreted);
    return compiled;
  }

  it('answers identity with the same data compiled as interpreted', async () => {
    const r = await bothEngines(
      `query($id: ID!) { identity(id: $id) { id provider providerIdentityId clientCustomerId status riskLevel
         enrolledAt deactivatedAt lastEventAt __typename } }`,
      { id: identityId },
    );
    assert.equal(r.status, 200);
    assert.equal((r.body.data as { identity: { id: string } }).identity.id, identityId);
  });

  it('answers identities with their events (the benchmark query) the same compiled', async () => {
    const r = await bothEngines(`{ identities(first: 20) { edges { cursor node { id status riskLevel
      events(first: 2) { edges { cursor node { id cursor type rawType provider occurredAt receivedAt newCarrier
        identity { id } } } pageInfo { hasNextPage endCursor } } } } pageInfo { hasNextPage endCursor } } }`);
    const edges = (r.body.data as { identities: { edges: { node: { events: { edges: unknown[] } } }[] } })
      .identities.edges;
    assert.equal(edges.length, 3);
    for (const e of edges) assert.equal(e.node.events.edges.length, 2);
  });

  it('keeps fragments, aliases, @include/@skip, enums and DateTime variables the same compiled', async () => {
    const r = await bothEngines(
      `query Q($withPhone: Boolean!, $types: [EventType!], $since: DateTime) {
         a: identities(first: 2) { ...page }
         b: identities(first: 1, filter: { status: ENDED }) { ...page }
         events(filter: { types: $types, occurredAfter: $since }) { edges { node { type occurredAt } } }
         riskSummary { total byRiskLevel { riskLevel count } byStatus { status count } }
       }
       fragment page on IdentityConnection {
         edges { node { id phoneNumber @include(if: $withPhone) status @skip(if: $withPhone) } }
       }`,
      { withPhone: true, types: ['PORT', 'DISCONNECT'], since: '2025-02-02T00:00:00Z' },
    );
    assert.equal(r.body.errors, undefined);
    assert.equal((r.body.data as { events: { edges: unknown[] } }).events.edges.length, 4);
  });

  it('masks phoneNumber without pii:read and shows it with pii:read, compiled as interpreted', async () => {
    const query = `query($id: ID!) { identity(id: $id) { phoneNumber } }`;
    const masked = await bothEngines(query, { id: identityId }, token.noPii);
    assert.deepEqual(masked.body.data, { identity: { phoneNumber: '********0188' } });
    const shown = await bothEngines(`${query} `, { id: identityId }, token.all);
    assert.deepEqual(shown.body.data, { identity: { phoneNumber: '+12025550188' } });
  });

  it('answers Identity.events FORBIDDEN without events:read, with the same path', async () => {
    const r = await bothEngines(
      `query($id: ID!) { identity(id: $id) { id events { edges { node { id } } } } }`,
      { id: identityId },
      token.noEvents,
    );
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.data, { identity: null });
    assert.equal(r.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
    assert.deepEqual(r.body.errors?.[0]?.path, ['identity', 'events']);
  });

  it('answers BAD_USER_INPUT the same, from a resolver and from variable coercion', async () => {
    const fromResolver = await bothEngines('{ identities(first: 0) { edges { node { id } } } }');
    assert.equal(fromResolver.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
    const badCursor = await bothEngines('{ events(after: "not-a-cursor") { edges { node { id } } } }');
    assert.equal(badCursor.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
    const badVariable = await bothEngines(
      'query($first: Int) { identities(first: $first) { edges { cursor } } }',
      {
        first: 'many',
      },
    );
    assert.equal(badVariable.status, 400);
    assert.equal(badVariable.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
    assert.match(badVariable.body.errors?.[0]?.message ?? '', /^Variable "\$first" got invalid value "many"/);
  });

  it('answers UNAUTHENTICATED without a token the same compiled', async () => {
    const r = await bothEngines('{ riskSummary { total } }', undefined, null);
    assert.equal(r.body.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
  });

  it('keeps unexpected errors masked and logged with their cause when compiled', async () => {
    // An event whose identity is gone breaks an invariant the foreign key normally keeps: Event.identity throws.
    await s.app.db.query('ALTER TABLE identity_events DROP CONSTRAINT identity_events_identity_id_fkey');
    await seedEvents(s.app.db, [{ identityId: '00000000-0000-4000-8000-000000000000', type: 'PORT' }]);
    const logged = () => s.logs.filter((l) => l.includes('unexpected GraphQL error')).length;
    const before = logged();
    const r = await bothEngines('{ events(first: 1) { edges { node { id identity { id } } } } }');
    assert.equal(r.body.data, null);
    assert.deepEqual(r.body.errors, [
      {
        message: 'Internal server error',
        path: ['events', 'edges', 0, 'node', 'identity'],
        extensions: { code: 'INTERNAL_SERVER_ERROR' },
      },
    ]);
    const lines = s.logs.filter((l) => l.includes('unexpected GraphQL error')).slice(before);
    assert.equal(lines.length, 2, 'logged once per engine');
    for (const line of lines)
      assert.match(line, /identity 00000000-0000-4000-8000-000000000000 of event \d+ not found/);
  });
});
