import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../helpers/server.js';

const TWO_SUBSCRIPTIONS = 'subscription A { identityEvents { id } } subscription B { identityEvents { id } }';

/**
 * A document over graphql-ws that names no operation it holds (several operations and no
 * operationName, or a name it lacks) is the client's mistake. Found by test/reliability/fuzz-graphql:
 * src/graphql/ws.ts refuses only an operation it found that is not a subscription, so this one runs
 * and graphql-js's "Must provide operation name" comes back masked as INTERNAL_SERVER_ERROR and logged
 * as an unexpected error; ws.ts now refuses it as HTTP does.
 */
describe('graphql-ws refusals', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  async function firstErrors(
    query: string,
    operationName?: string,
    variables?: Record<string, unknown>,
  ): Promise<unknown> {
    const client = createClient({
      url: `${s.url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${await s.token()}` },
      retryAttempts: 0,
    });
    try {
      return await new Promise((resolve, reject) => {
        client.subscribe(
          { query, ...(operationName ? { operationName } : {}), ...(variables ? { variables } : {}) },
          { next: (r) => resolve(r.errors), error: resolve, complete: () => reject(new Error('completed')) },
        );
      });
    } finally {
      await client.dispose();
    }
  }

  for (const [what, operationName] of [
    ['no operationName', undefined],
    ['an operationName it lacks', 'C'],
  ] as const) {
    it(`refuses two operations with ${what} as a client error, logging nothing`, async () => {
      const before = s.logs.length;
      const errors = (await firstErrors(TWO_SUBSCRIPTIONS, operationName)) as {
        extensions?: { code?: string };
      }[];
      assert.ok(Array.isArray(errors), `errors: ${JSON.stringify(errors)}`);
      assert.notEqual(errors[0]?.extensions?.code, 'INTERNAL_SERVER_ERROR', JSON.stringify(errors));
      assert.deepEqual(
        s.logs.slice(before).filter((l) => l.includes('"level":50')),
        [],
        'not logged as a server failure',
      );
    });
  }

  // Masked as INTERNAL_SERVER_ERROR until maskErrors (src/graphql/apollo.ts) knew graphql-js's wrapped
  // coercion errors, which HTTP never showed it (Apollo codes them first); found by fuzzing.
  it('refuses variables of the wrong type as BAD_USER_INPUT, as HTTP does, logging nothing', async () => {
    const before = s.logs.length;
    const errors = (await firstErrors(
      'subscription ($f: EventFilter, $a: String) { identityEvents(filter: $f, after: $a) { id } }',
      undefined,
      { f: 1e300, a: true },
    )) as { extensions?: { code?: string } }[];
    assert.ok(Array.isArray(errors), `errors: ${JSON.stringify(errors)}`);
    assert.equal(errors[0]?.extensions?.code, 'BAD_USER_INPUT', JSON.stringify(errors));
    assert.deepEqual(
      s.logs.slice(before).filter((l) => l.includes('"level":50')),
      [],
    );
  });

  // Found by fuzzing: graphql-js's validation threw on it ("Argument \"if\" has invalid value 1."), which
  // graphql-ws answered by closing the socket with 4500; validateOperation now reports it.
  for (const [what, query] of [
    ['a directive argument of the wrong type', 'subscription { identityEvents @skip(if: 1) { id } }'],
  ] as const) {
    it(`refuses a subscription with ${what} as GRAPHQL_VALIDATION_FAILED`, async () => {
      const errors = await Promise.race([
        firstErrors(query),
        new Promise((resolve) => setTimeout(() => resolve('no answer within 1 s'), 1_000)),
      ]);
      assert.ok(Array.isArray(errors), `errors: ${JSON.stringify(errors)}`);
      assert.equal(
        (errors as { extensions?: { code?: string } }[])[0]?.extensions?.code,
        'GRAPHQL_VALIDATION_FAILED',
      );
    });
  }
});
