import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodeCursor, encodeEventCursor } from '../../src/domain/cursor.js';
import { seedDeliveries, seedEvents, seedIdentities } from '../helpers/seed.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type Errors = { message: string; extensions?: Record<string, unknown> }[] | undefined;

/** The single error of a refused operation: its code and message, never an internal error. */
function onlyError(errors: Errors): { code: unknown; message: string } {
  assert.ok(errors?.length, 'expected an error');
  assert.ok(
    errors.every((e) => e.extensions?.code !== 'INTERNAL_SERVER_ERROR'),
    JSON.stringify(errors),
  );
  return { code: errors[0]!.extensions?.code, message: errors[0]!.message };
}

describe('GraphQL query input', () => {
  let s: TestServer;
  let identityId: string;
  let eventCursor: string;
  let identityCursor: string;
  let deliveryCursor: string;

  before(async () => {
    s = await startTestServer();
    const ids = await seedIdentities(
      s.app.db,
      Array.from({ length: 150 }, () => ({})),
    );
    identityId = ids[0]!;
    await seedEvents(s.app.db, [{ identityId }, { identityId }]);
    await seedDeliveries(s.app.db, [{}, {}]);
    const res = await s.gql<{
      events: { edges: { cursor: string }[] };
      identities: { edges: { cursor: string }[] };
      webhookDeliveries: { edges: { cursor: string }[] };
    }>(`{ events(first: 1) { edges { cursor } } identities(first: 1) { edges { cursor } }
          webhookDeliveries(first: 1) { edges { cursor } } }`);
    eventCursor = res.body.data!.events.edges[0]!.cursor;
    identityCursor = res.body.data!.identities.edges[0]!.cursor;
    deliveryCursor = res.body.data!.webhookDeliveries.edges[0]!.cursor;
  });
  after(() => s.close());

  const lists = {
    identities: (args: string) => `{ identities(${args}) { edges { cursor } } }`,
    events: (args: string) => `{ events(${args}) { edges { cursor } } }`,
    webhookDeliveries: (args: string) => `{ webhookDeliveries(${args}) { edges { cursor } } }`,
    'Identity.events': (args: string) =>
      `{ identities(first: 1) { edges { node { events(${args}) { edges { cursor } } } } } }`,
  };

  for (const [name, query] of Object.entries(lists)) {
    it(`refuses a malformed cursor for ${name} as BAD_USER_INPUT`, async () => {
      for (const bad of ['!!!', 'bm9wZQ', encodeCursor('event', ['1', "1' OR 1=1"]), 'x'.repeat(300)]) {
        const err = onlyError((await s.gql(query(`after: ${JSON.stringify(bad)}`))).body.errors);
        assert.equal(err.code, 'BAD_USER_INPUT', bad);
        assert.match(err.message, /^after: cursor/);
      }
    });

    it(`refuses first: 0 and a negative first for ${name} as BAD_USER_INPUT`, async () => {
      for (const first of [0, -1, -2147483648]) {
        const err = onlyError((await s.gql(query(`first: ${first}`))).body.errors);
        assert.equal(err.code, 'BAD_USER_INPUT');
        assert.equal(err.message, 'first must be between 1 and 100');
      }
    });
  }

  it('refuses a cursor of another list as BAD_USER_INPUT', async () => {
    const cases: [string, string][] = [
      [lists.events(`after: "${identityCursor}"`), 'event'],
      [lists['Identity.events'](`after: "${deliveryCursor}"`), 'event'],
      [lists.identities(`after: "${eventCursor}"`), 'identity'],
      [lists.identities(`after: "${deliveryCursor}"`), 'identity'],
      [lists.webhookDeliveries(`after: "${identityCursor}"`), 'delivery'],
    ];
    for (const [query, kind] of cases) {
      const err = onlyError((await s.gql(query)).body.errors);
      assert.equal(err.code, 'BAD_USER_INPUT', query);
      assert.match(err.message, new RegExp(`does not belong to this list \\(expected a ${kind} cursor\\)`));
    }
  });

  it('refuses a well-formed cursor with tampered parts', async () => {
    for (const [query, cursor] of [
      [lists.identities, encodeCursor('identity', ['12.5', identityId])],
      [lists.identities, encodeCursor('identity', ['1700000000000000', 'not-a-uuid'])],
      [lists.webhookDeliveries, encodeCursor('delivery', ['1', '2', '3'])],
      [lists.events, encodeEventCursor({ txId: '01', id: '2' })],
    ] as const) {
      const err = onlyError((await s.gql(query(`after: "${cursor}"`))).body.errors);
      assert.equal(err.code, 'BAD_USER_INPUT');
    }
  });

  it('serves at most 100 edges for a huge first, with hasNextPage', async () => {
    const res = await s.gql<{
      identities: { edges: unknown[]; pageInfo: { hasNextPage: boolean } };
    }>('{ identities(first: 1000000) { edges { cursor } pageInfo { hasNextPage } } }');
    assert.equal(res.body.errors, undefined);
    assert.equal(res.body.data?.identities.edges.length, 100);
    assert.equal(res.body.data?.identities.pageInfo.hasNextPage, true);
  });

  it('serves 20 edges when first is omitted or null', async () => {
    for (const q of [
      '{ identities { edges { cursor } } }',
      'query($n: Int) { identities(first: $n) { edges { cursor } } }',
    ]) {
      const res = await s.gql<{ identities: { edges: unknown[] } }>(q, { n: null });
      assert.equal(res.body.data?.identities.edges.length, 20);
    }
  });

  it('refuses first: "ten" as a variable with BAD_USER_INPUT and as a literal with GRAPHQL_VALIDATION_FAILED', async () => {
    const variable = await s.gql('query($n: Int) { identities(first: $n) { edges { cursor } } }', {
      n: 'ten',
    });
    const v = onlyError(variable.body.errors);
    assert.equal(v.code, 'BAD_USER_INPUT');
    assert.match(v.message, /\$n.*Int/);
    const literal = await s.gql('{ events(first: "ten") { edges { cursor } } }');
    const l = onlyError(literal.body.errors);
    assert.equal(l.code, 'GRAPHQL_VALIDATION_FAILED');
    assert.match(l.message, /Int cannot represent non-integer value: "ten"/);
    const tooBig = await s.gql('query($n: Int) { events(first: $n) { edges { cursor } } }', { n: 2 ** 40 });
    assert.equal(onlyError(tooBig.body.errors).code, 'BAD_USER_INPUT');
  });

  it('refuses a malformed identity id, in identity() and in the event filter, as BAD_USER_INPUT', async () => {
    const one = onlyError((await s.gql('{ identity(id: "42") { id } }')).body.errors);
    assert.equal(one.code, 'BAD_USER_INPUT');
    const filtered = onlyError(
      (await s.gql(lists.events('filter: { identityId: "x\'; DROP TABLE identities; --" }'))).body.errors,
    );
    assert.equal(filtered.code, 'BAD_USER_INPUT');
    assert.match(filtered.message, /identity id must be a UUID/);
  });

  it('answers null for an identity id that does not exist', async () => {
    const res = await s.gql('{ identity(id: "00000000-0000-4000-8000-000000000000") { id } }');
    assert.deepEqual(res.body, { data: { identity: null } });
  });

  it('refuses an empty types or providers list, naming it', async () => {
    const types = onlyError((await s.gql(lists.events('filter: { types: [] }'))).body.errors);
    assert.equal(types.code, 'BAD_USER_INPUT');
    assert.match(types.message, /filter\.types must not be empty/);
    const providers = onlyError((await s.gql(lists.events('filter: { providers: [] }'))).body.errors);
    assert.equal(providers.code, 'BAD_USER_INPUT');
    assert.match(providers.message, /filter\.providers must not be empty/);
  });

  it('refuses occurredAfter later than occurredBefore, and a DateTime that is not ISO 8601', async () => {
    const range = onlyError(
      (
        await s.gql(
          lists.events(
            'filter: { occurredAfter: "2025-02-01T00:00:00Z", occurredBefore: "2025-01-01T00:00:00Z" }',
          ),
        )
      ).body.errors,
    );
    assert.equal(range.code, 'BAD_USER_INPUT');
    assert.match(range.message, /occurredAfter must not be later than filter\.occurredBefore/);
    const literal = onlyError(
      (await s.gql(lists.events('filter: { occurredAfter: "yesterday" }'))).body.errors,
    );
    assert.equal(literal.code, 'GRAPHQL_VALIDATION_FAILED');
    assert.match(literal.message, /ISO 8601/);
    const variable = onlyError(
      (
        await s.gql('query($f: EventFilter) { events(filter: $f) { edges { cursor } } }', {
          f: { occurredBefore: '2025-13-45T00:00:00Z' },
        })
      ).body.errors,
    );
    assert.equal(variable.code, 'BAD_USER_INPUT');
  });

  it('refuses an unknown enum value in a filter', async () => {
    const res = await s.gql('query($f: EventFilter) { events(filter: $f) { edges { cursor } } }', {
      f: { types: ['NOT_A_TYPE'] },
    });
    const err = onlyError(res.body.errors);
    assert.equal(err.code, 'BAD_USER_INPUT');
    assert.match(err.message, /NOT_A_TYPE/);
  });
});
