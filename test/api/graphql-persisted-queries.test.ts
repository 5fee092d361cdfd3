import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';

const QUERY = '{ riskSummary { total } }';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Automatic persisted queries (Apollo's, on by default): a client's mistakes are its own, not ours. */
describe('persisted queries', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(async () => server.close());

  async function post(body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await server.token()}` },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('answers a hash that does not match the query, or an unknown version, 400 BAD_REQUEST and logs no error', async () => {
    const before = server.logs.length;
    const mismatch = await post({
      query: QUERY,
      extensions: { persistedQuery: { version: 1, sha256Hash: 'x' } },
    });
    assert.deepEqual(mismatch, {
      status: 400,
      body: {
        errors: [{ message: 'provided sha does not match query', extensions: { code: 'BAD_REQUEST' } }],
      },
    });
    const version = await post({
      query: QUERY,
      extensions: { persistedQuery: { version: 2, sha256Hash: sha256(QUERY) } },
    });
    assert.deepEqual(version, {
      status: 400,
      body: {
        errors: [{ message: 'Unsupported persisted query version', extensions: { code: 'BAD_REQUEST' } }],
      },
    });
    const logged = server.logs.slice(before).filter((l) => l.includes('unexpected GraphQL error'));
    assert.deepEqual(logged, [], 'a client mistake is not logged as a server failure');
  });

  it('registers a query under its hash and answers it by hash alone', async () => {
    const hash = sha256(QUERY);
    const unknown = await post({ extensions: { persistedQuery: { version: 1, sha256Hash: hash } } });
    assert.equal(
      (unknown.body.errors as { extensions: { code: string } }[])[0]?.extensions.code,
      'PERSISTED_QUERY_NOT_FOUND',
    );
    const registered = await post({
      query: QUERY,
      extensions: { persistedQuery: { version: 1, sha256Hash: hash } },
    });
    assert.deepEqual(registered, { status: 200, body: { data: { riskSummary: { total: 0 } } } });
    const byHash = await post({ extensions: { persistedQuery: { version: 1, sha256Hash: hash } } });
    assert.deepEqual(byHash, { status: 200, body: { data: { riskSummary: { total: 0 } } } });
  });
});
