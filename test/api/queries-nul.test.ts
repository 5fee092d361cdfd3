import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postProve, proveNotification, WEBHOOK_ENV } from '../helpers/webhooks.js';

/**
 * PostgreSQL text cannot hold U+0000: the store keeps it as U+FFFD (src/ingest/providers/json.ts
 * storableText). A filter holding it used to reach PostgreSQL as sent and fail as INTERNAL_SERVER_ERROR
 * (found by test/reliability/fuzz-graphql); it is now compared as the store would have kept it.
 */
describe('query filters holding U+0000', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ env: WEBHOOK_ENV });
  });
  after(() => s.close());

  it('finds the identity a webhook stored with U+0000 in its ids, by the ids as sent', async () => {
    const n = proveNotification({ identityId: 'nul\u0000identity', clientCustomerId: 'nul\u0000customer' });
    assert.equal((await postProve(s.url, { notifications: [n] })).status, 200);
    for (const filter of [
      { providerIdentityId: 'nul\u0000identity' },
      { clientCustomerId: 'nul\u0000customer' },
    ]) {
      const res = await s.gql<{ identities: { edges: { node: { providerIdentityId: string } }[] } }>(
        'query ($f: IdentityFilter) { identities(filter: $f) { edges { node { providerIdentityId } } } }',
        { f: filter },
      );
      assert.deepEqual(res.body, {
        data: { identities: { edges: [{ node: { providerIdentityId: 'nul\uFFFDidentity' } }] } },
      });
    }
  });

  it('answers webhookDeliveries with an outcome holding U+0000 with an empty page', async () => {
    const res = await s.gql('{ webhookDeliveries(outcome: "\\u0000") { edges { node { id } } } }');
    assert.deepEqual([res.status, res.body], [200, { data: { webhookDeliveries: { edges: [] } } }]);
  });
});
