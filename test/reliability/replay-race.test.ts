/**
 * One Prove token sent many times at once across two replicas of one database: the replay guard
 * (prove_token_ids, in PostgreSQL so every replica shares it) lets exactly one copy in.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { signProve } from '../fixtures/signers.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { PROVE_SECRET, post, proveNotification, WEBHOOK_ENV } from '../helpers/webhooks.js';

const FULL = process.env.RELIABILITY_FULL === '1';
const COPIES = 50;
const ROUNDS = FULL ? 10 : 2;

describe('a Prove token replayed at once across two replicas', () => {
  const servers: TestServer[] = [];
  after(async () => {
    // The replica first: the first server's close drops the database they share.
    for (const s of servers.reverse()) await s.close();
  });

  it(`accepts exactly one of ${COPIES} simultaneous copies and stores its events once (${ROUNDS} rounds)`, async () => {
    servers.push(await startTestServer({ env: WEBHOOK_ENV }));
    const first = servers[0] as TestServer;
    servers.push(await startTestServer({ env: WEBHOOK_ENV, database: first.database }));
    for (let round = 0; round < ROUNDS; round++) {
      const notifications = [proveNotification(), proveNotification({ eventType: 'DISCONNECT' })];
      const body = JSON.stringify({ notifications });
      const token = await signProve({ secret: PROVE_SECRET, body });
      const answers = await Promise.all(
        Array.from({ length: COPIES }, (_, i) =>
          post(`${(servers[i % 2] as TestServer).url}/webhooks/prove`, body, {
            'content-type': 'application/json',
            'x-prove-authorization': `Bearer ${token}`,
          }),
        ),
      );
      const statuses = answers.map((a) => a.status).sort();
      assert.deepEqual(statuses, [200, ...Array(COPIES - 1).fill(409)], `round ${round}`);
      assert.deepEqual(answers.find((a) => a.status === 200)?.body, {
        accepted: 2,
        duplicates: 0,
        rejected: 0,
      });
      for (const a of answers.filter((x) => x.status === 409))
        assert.deepEqual(a.body, { error: 'replayed_token' });
      const [row] = await first.app.db.query(
        'SELECT count(*)::int AS n FROM identity_events WHERE provider_event_id = ANY ($1)',
        [notifications.map((n) => n.eventId)],
      );
      assert.equal(row.n, 2, 'each event stored once');
    }
  });
});
