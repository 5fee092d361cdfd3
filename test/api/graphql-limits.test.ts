import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { getIntrospectionQuery } from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { MAX_ALIASES, MAX_COST, MAX_DEPTH, MAX_DIRECTIVES, MAX_TOKENS } from '../../src/graphql/limits.js';
import { startTestServer, TEST_AUTH_SECRET, type TestServer } from '../helpers/server.js';

interface GqlError {
  message: string;
  extensions?: Record<string, unknown>;
}
interface GqlBody {
  data?: unknown;
  errors?: GqlError[];
}

/** `events { edges { node { identity { events { … } } } } }` down to `depth` fields, ending in `id`. */
function deepEventsQuery(depth: number): string {
  const cycle = ['events', 'edges', 'node', 'identity'];
  const fields = Array.from({ length: depth - 1 }, (_, i) => cycle[i % cycle.length]!);
  const last = fields.at(-1);
  assert.ok(last === 'node' || last === 'identity', `a ${depth}-deep chain must end on an object with an id`);
  return `{ ${fields.map((f) => `${f} { `).join('')}id${' }'.repeat(fields.length)} }`;
}

const IDENTITY_FIELDS =
  'id provider providerIdentityId clientCustomerId status riskLevel enrolledAt deactivatedAt lastEventAt phoneNumber';
const EVENT_FIELDS =
  'id cursor type rawType provider providerEventId description occurredAt receivedAt newCarrier newLineType verificationStatus';

/** The biggest page with a use: 100 identities with every field and each one's 20 latest events with every field. */
const LARGEST_PAGE = `identities(first: 100) {
  edges { cursor node { ${IDENTITY_FIELDS}
    events(first: 20) { edges { cursor node { ${EVENT_FIELDS} } } pageInfo { hasNextPage endCursor } } } }
  pageInfo { hasNextPage endCursor }
}`;

/** Pages of 100 under pages of 100: ten thousand events with their identities, at depth 8. */
const COST_BOMB = `{ identities(first: 100) { edges { node {
  events(first: 100) { edges { node { id type occurredAt identity { id status riskLevel } } } } } } } }`;

function errorsOf(body: GqlBody): GqlError[] {
  assert.ok(body.errors?.length, `expected errors, got ${JSON.stringify(body)}`);
  return body.errors;
}

/** Asserts the operation was refused before execution with one error of `code` whose message matches. */
function assertRefused(res: { status: number; body: GqlBody }, code: string, message: RegExp): void {
  assert.equal(res.status, 400, JSON.stringify(res.body));
  assert.equal(res.body.data, undefined, 'nothing executed');
  const errors = errorsOf(res.body);
  const match = errors.find((e) => message.test(e.message));
  assert.ok(match, `no error matches ${message}: ${JSON.stringify(errors)}`);
  assert.equal(match.extensions?.code, code);
}

describe('GraphQL abuse limits and hardening', () => {
  let s: TestServer;
  let prod: TestServer;
  before(async () => {
    s = await startTestServer();
    prod = await startTestServer({
      database: s.database,
      env: { NODE_ENV: 'production', HOST: '127.0.0.1', AUTH_JWT_SECRET: TEST_AUTH_SECRET },
    });
  });
  after(async () => {
    await prod?.close();
    await s?.close();
  });

  describe('limits over HTTP', () => {
    it('refuses a 20-deep query naming its depth and the limit', async () => {
      const res = await s.gql(deepEventsQuery(20));
      assertRefused(
        res,
        'GRAPHQL_VALIDATION_FAILED',
        new RegExp(`^query depth 20 exceeds the limit of ${MAX_DEPTH}$`),
      );
    });

    it('answers the deepest legitimate query', async () => {
      const query =
        '{ events { edges { node { identity { events { edges { node { identity { id } } } } } } } } }';
      assert.equal(query, deepEventsQuery(9));
      const res = await s.gql<{ events: { edges: unknown[] } }>(query);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { data: { events: { edges: [] } } });
    });

    it('refuses 100 aliases', async () => {
      const aliases = Array.from({ length: 100 }, (_, i) => `a${i}: riskSummary { total }`).join(' ');
      const res = await s.gql(`{ ${aliases} }`);
      assertRefused(
        res,
        'GRAPHQL_VALIDATION_FAILED',
        new RegExp(`^query alias count 100 exceeds the limit of ${MAX_ALIASES}$`),
      );
    });

    it('answers the largest legitimate page, but refuses ten aliases of it on cost', async () => {
      const ok = await s.gql(`{ ${LARGEST_PAGE} }`);
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.equal(ok.body.errors, undefined);
      const tenfold = Array.from({ length: 10 }, (_, i) => `p${i}: ${LARGEST_PAGE}`).join('\n');
      const res = await s.gql(`{ ${tenfold} }`);
      assertRefused(res, 'GRAPHQL_VALIDATION_FAILED', /^query cost \d+ exceeds the limit of 50000$/);
      assert.equal(res.body.errors?.length, 1, 'only the cost limit is exceeded');
    });

    it('refuses nested pages of 100 on cost, also when hidden in fragments or behind variables', async () => {
      const res = await s.gql(COST_BOMB);
      assertRefused(
        res,
        'GRAPHQL_VALIDATION_FAILED',
        new RegExp(`^query cost 80302 exceeds the limit of ${MAX_COST}$`),
      );
      const fragments = await s.gql(`{ identities(first: 100) { ...Identities } }
        fragment Identities on IdentityConnection { edges { node { events(first: 100) { ...Events } } } }
        fragment Events on IdentityEventConnection {
          edges { node { id type occurredAt identity { id status riskLevel } } }
        }`);
      assertRefused(fragments, 'GRAPHQL_VALIDATION_FAILED', /^query cost 80302 exceeds/);
      // A variable page size counts as the cap (100): documents are validated before variables are known.
      const variables = await s.gql(
        `query ($n: Int) { identities(first: $n) { edges { node {
          events(first: $n) { edges { node { id type occurredAt identity { id status riskLevel } } } } } } } }`,
        { n: 2 },
      );
      assertRefused(variables, 'GRAPHQL_VALIDATION_FAILED', /^query cost 80302 exceeds/);
    });

    it('refuses a document over the token limit while parsing', async () => {
      const res = await s.gql(`{ ${'__typename '.repeat(MAX_TOKENS)} }`);
      assertRefused(
        res,
        'GRAPHQL_PARSE_FAILED',
        new RegExp(`^document token count exceeds the limit of ${MAX_TOKENS}; parsing aborted$`),
      );
    });

    it('refuses a flood of directives', async () => {
      const res = await s.gql(`{ ${'__typename @skip(if: false) '.repeat(25)} }`);
      assertRefused(
        res,
        'GRAPHQL_VALIDATION_FAILED',
        new RegExp(`^document directive count 25 exceeds the limit of ${MAX_DIRECTIVES}$`),
      );
    });

    it('answers the full introspection query in development (limits leave tooling alone)', async () => {
      const res = await s.gql(
        getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, inputValueDeprecation: true }),
      );
      assert.equal(res.status, 200);
      assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
    });

    it('answers variables of the wrong type as BAD_USER_INPUT, not a server error', async () => {
      const res = await s.gql('query ($n: Int) { identities(first: $n) { edges { cursor } } }', {
        n: 'many',
      });
      assertRefused(res, 'BAD_USER_INPUT', /^Variable "\$n" got invalid value "many"; Int cannot represent/);
    });
  });

  describe('HTTP hardening', () => {
    it('refuses a mutation sent with GET (405, Allow: POST)', async (t) => {
      const authorization = `Bearer ${await s.token()}`;
      const headers = { authorization, 'apollo-require-preflight': 'true' };
      const get = (query: string) =>
        fetch(`${s.url}/graphql?query=${encodeURIComponent(query)}`, { headers });
      const ok = await get('{ __typename }');
      assert.equal(ok.status, 200, 'GET answers queries');
      const schema = await s.gql<{ __schema: { mutationType: unknown } }>(
        '{ __schema { mutationType { name } } }',
      );
      if (!schema.body.data?.__schema.mutationType) {
        // Apollo checks the method only after validation, which needs a Mutation type to pass.
        t.skip('the schema has no Mutation type yet');
        return;
      }
      const res = await get('mutation { __typename }');
      assert.equal(res.status, 405);
      assert.equal(res.headers.get('allow'), 'POST');
      const body = (await res.json()) as GqlBody;
      assert.equal(body.data, undefined);
      assert.match(errorsOf(body)[0]!.message, /GET requests only support query operations/);
    });

    it('refuses a simple (CSRF-able) request: text/plain POST, or GET, without a token or preflight header', async () => {
      const post = await fetch(`${s.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
      assert.equal(post.status, 400);
      assert.match(await post.text(), /Cross-Site Request Forgery/);
      const get = await fetch(`${s.url}/graphql?query=${encodeURIComponent('{ __typename }')}`);
      assert.equal(get.status, 400);
      assert.match(await get.text(), /Cross-Site Request Forgery/);
    });

    it('serves a plain GraphQL-over-HTTP GET that carries its bearer token (a browser preflights those)', async () => {
      const token = await s.token(['identities:read']);
      const query = encodeURIComponent('{ identities(first: 1) { edges { cursor } } }');
      const get = await fetch(`${s.url}/graphql?query=${query}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(get.status, 200);
      const body = (await get.json()) as GqlBody;
      assert.equal(body.errors, undefined);
      assert.ok(Array.isArray((body.data as { identities: { edges: unknown[] } }).identities.edges));
    });

    it('answers an unexpected error as INTERNAL_SERVER_ERROR without details, logged with the request id', async () => {
      const requestId = `limits-${randomUUID()}`;
      await s.app.db.query('ALTER TABLE identities RENAME TO identities_hidden');
      let res: Response;
      try {
        res = await fetch(`${s.url}/graphql`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-request-id': requestId,
            authorization: `Bearer ${await s.token()}`,
          },
          body: JSON.stringify({ query: '{ identities { edges { cursor } } }' }),
        });
      } finally {
        await s.app.db.query('ALTER TABLE identities_hidden RENAME TO identities');
      }
      const text = await res.text();
      assert.doesNotMatch(text, /identities_hidden|relation|SELECT|stack/i);
      const body = JSON.parse(text) as GqlBody;
      assert.deepEqual(errorsOf(body)[0], {
        message: 'Internal server error',
        path: ['identities'],
        extensions: { code: 'INTERNAL_SERVER_ERROR' },
      });
      const line = s.logs.find((l) => l.includes('unexpected GraphQL error') && l.includes(requestId));
      assert.ok(line, 'the error is logged with the request id');
      assert.match(line, /identities/, 'the log keeps the details');
    });
  });

  describe('production', () => {
    it('hides field suggestions, which development shows', async () => {
      const typo = '{ identitie { edges { cursor } } }';
      const dev = errorsOf((await s.gql(typo)).body)[0]!;
      assert.match(dev.message, /Did you mean "identities" or "identity"\?/);
      const res = await prod.gql(typo);
      assertRefused(res, 'GRAPHQL_VALIDATION_FAILED', /^Cannot query field "identitie" on type "Query"\.$/);
    });

    it('hides enum value suggestions in variable errors', async () => {
      const query = 'query ($f: IdentityFilter) { identities(filter: $f) { edges { cursor } } }';
      const variables = { f: { status: 'ACTIV' } };
      const dev = errorsOf((await s.gql(query, variables)).body)[0]!;
      assert.match(dev.message, /Did you mean the enum value "ACTIVE"\?/);
      const res = await prod.gql(query, variables);
      assertRefused(res, 'BAD_USER_INPUT', /^Variable "\$f" got invalid value "ACTIV"/);
      assert.doesNotMatch(errorsOf(res.body)[0]!.message, /Did you mean|ACTIVE/);
    });

    it('refuses introspection', async () => {
      const res = await prod.gql('{ __schema { queryType { name } } }');
      assertRefused(res, 'GRAPHQL_VALIDATION_FAILED', /introspection is not allowed/);
    });

    it('applies the limits', async () => {
      assertRefused(
        await prod.gql(deepEventsQuery(20)),
        'GRAPHQL_VALIDATION_FAILED',
        /^query depth 20 exceeds the limit of 10$/,
      );
    });
  });

  describe('limits over WebSocket', () => {
    /** Subscribes over graphql-ws and resolves with the operation's errors (rejects on data or a closed socket). */
    async function wsErrors(query: string, server = s): Promise<GqlError[]> {
      const client = createClient({
        url: `${server.url.replace('http', 'ws')}/graphql`,
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${await server.token()}` },
        retryAttempts: 0,
      });
      try {
        return await new Promise<GqlError[]>((resolve, reject) => {
          client.subscribe(
            { query },
            {
              next: (value) => reject(new Error(`unexpected result ${JSON.stringify(value)}`)),
              error: (err) => (Array.isArray(err) ? resolve(err as GqlError[]) : reject(err)),
              complete: () => reject(new Error('completed without an error')),
            },
          );
        });
      } finally {
        await client.dispose();
      }
    }

    it('refuses a query operation: only subscriptions go over the socket', async () => {
      const errors = await wsErrors('{ __typename }');
      assert.deepEqual(errors, [
        {
          message: 'only subscriptions are accepted over WebSocket; use HTTP for queries and mutations',
          extensions: { code: 'BAD_REQUEST' },
        },
      ]);
    });

    it('refuses a 20-deep subscription document with the depth limit', async () => {
      const cycle = ['identity', 'events', 'edges', 'node'];
      const chain = Array.from({ length: 20 }, (_, i) => cycle[i % cycle.length]!); // ends on node
      const query = `subscription { identityEvents { ${chain.map((f) => `${f} { `).join('')}id${' }'.repeat(chain.length)} } }`;
      const errors = await wsErrors(query);
      const depth = errors.find((e) => /^subscription depth 22 exceeds the limit of 10$/.test(e.message));
      assert.ok(depth, JSON.stringify(errors));
      assert.equal(depth.extensions?.code, 'GRAPHQL_VALIDATION_FAILED');
    });

    it('refuses a document over the token limit', async () => {
      const errors = await wsErrors(`subscription { ${'__typename '.repeat(MAX_TOKENS)} }`);
      assert.equal(errors.length, 1);
      assert.equal(
        errors[0]!.message,
        `document token count exceeds the limit of ${MAX_TOKENS}; parsing aborted`,
      );
      assert.equal(errors[0]!.extensions?.code, 'GRAPHQL_PARSE_FAILED');
    });

    it('hides field suggestions in production', async () => {
      const typo = 'subscription { identityEvent { id } }';
      const dev = await wsErrors(typo);
      assert.match(dev[0]!.message, /Did you mean "identityEvents"\?/);
      const hidden = await wsErrors(typo, prod);
      assert.deepEqual(
        hidden.map((e) => [e.message, e.extensions?.code]),
        [['Cannot query field "identityEvent" on type "Subscription".', 'GRAPHQL_VALIDATION_FAILED']],
      );
    });
  });
});
