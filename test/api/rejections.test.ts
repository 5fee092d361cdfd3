import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { REJECTIONS_RECORDED_PER_MINUTE } from '../../src/ingest/rejections.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { PROVE_SECRET, postProve, postVove, WEBHOOK_ENV } from '../helpers/webhooks.js';

/**
 * The contract's cap on recorded rejections: at most 100 a minute per provider across every replica,
 * the rest counted in `webhook_rejections_unrecorded_total`. The servers' clock is fixed inside one
 * minute (StartOptions.now), so a run that crosses a real minute boundary still sees one budget.
 */

/** A fixed clock in the middle of the current minute, moved on by the tests. */
function testClock() {
  let t = Math.floor(Date.now() / 60_000) * 60_000 + 30_000;
  return {
    now: () => new Date(t),
    nextMinute() {
      t += 60_000;
    },
  };
}

/** A forged Prove delivery: the body carries `marker`, the token is signed with the wrong secret. */
async function forgeProve(url: string, marker: string): Promise<void> {
  const res = await postProve(url, { notifications: [{ marker }] }, { secret: 'whsec_forged' });
  assert.equal(res.status, 401);
}

async function forgeVove(url: string, marker: string): Promise<void> {
  const res = await postVove(url, { marker }, { secret: `whsec_${randomBytes(24).toString('base64')}` });
  assert.equal(res.status, 401);
}

/** Runs `n` calls of `send`, `concurrency` at a time. */
async function flood(n: number, concurrency: number, send: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await send(next++);
    }),
  );
}

/** `webhook_rejections_unrecorded_total` for a provider, from GET /metrics (0 when not counted yet). */
async function unrecorded(url: string, provider: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = text.match(
    new RegExp(`^webhook_rejections_unrecorded_total\\{provider="${provider}"\\} (\\d+)`, 'm'),
  );
  return m ? Number(m[1]) : 0;
}

async function recorded(s: TestServer, provider: string): Promise<number> {
  const rows: { n: string }[] = await s.app.db.query(
    "SELECT count(*)::text AS n FROM webhook_deliveries WHERE provider = $1 AND outcome <> 'accepted'",
    [provider],
  );
  return Number(rows[0]?.n);
}

/** Recording is fire and forget: waits until every rejection sent is either recorded or counted. */
async function settle(servers: TestServer[], provider: string, sent: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    let counted = await recorded(servers[0]!, provider);
    for (const s of servers) counted += await unrecorded(s.url, provider);
    if (counted >= sent) return;
    await sleep(25);
  }
  assert.fail(`not every one of ${sent} ${provider} rejections was recorded or counted`);
}

describe('rejected deliveries recorded at most 100 a minute per provider', () => {
  describe('on one server', () => {
    const clock = testClock();
    let s: TestServer;
    before(async () => {
      s = await startTestServer({ env: WEBHOOK_ENV, now: clock.now });
    });
    after(() => s.close());

    it('records 100 of 130 forgeries without their bodies and counts the other 30 in /metrics', async () => {
      const marker = `forged-body-${randomBytes(8).toString('hex')}`;
      await flood(130, 10, () => forgeProve(s.url, marker));
      await settle([s], 'PROVE', 130);
      assert.equal(await recorded(s, 'PROVE'), REJECTIONS_RECORDED_PER_MINUTE);
      assert.equal(await unrecorded(s.url, 'PROVE'), 30);

      const rows: { outcome: string; body_sha256: string | null; rejected_items: unknown }[] =
        await s.app.db.query(
          "SELECT DISTINCT outcome, body_sha256, rejected_items FROM webhook_deliveries WHERE provider = 'PROVE'",
        );
      assert.deepEqual(
        rows.map((r) => [r.outcome, r.rejected_items]),
        [['invalid_signature', null]],
      );
      assert.match(rows[0]?.body_sha256 ?? '', /^[0-9a-f]{64}$/);
      const leaked = s.logs.filter((l) => l.includes(marker) || l.includes(PROVE_SECRET));
      assert.deepEqual(leaked, [], 'no log line carries the body or the secret');
    });

    it('gives another provider a budget of its own', async () => {
      await flood(5, 5, () => forgeVove(s.url, 'vove'));
      await settle([s], 'VOVE', 5);
      assert.equal(await recorded(s, 'VOVE'), 5);
      assert.equal(await unrecorded(s.url, 'VOVE'), 0);
      assert.equal(await recorded(s, 'PROVE'), REJECTIONS_RECORDED_PER_MINUTE, 'PROVE stays capped');
    });

    it('records again in the next minute', async () => {
      clock.nextMinute();
      await flood(3, 3, () => forgeProve(s.url, 'next'));
      await settle([s], 'PROVE', REJECTIONS_RECORDED_PER_MINUTE + 30 + 3);
      assert.equal(await recorded(s, 'PROVE'), REJECTIONS_RECORDED_PER_MINUTE + 3);
      assert.equal(await unrecorded(s.url, 'PROVE'), 30);
    });
  });

  describe('on two servers sharing one database', () => {
    const clock = testClock();
    let database: TestDatabase;
    let a: TestServer;
    let b: TestServer;
    before(async () => {
      database = await createTestDatabase();
      [a, b] = await Promise.all([
        startTestServer({ env: WEBHOOK_ENV, database, now: clock.now }),
        startTestServer({ env: WEBHOOK_ENV, database, now: clock.now }),
      ]);
    });
    after(async () => {
      await Promise.all([a.close(), b.close()]);
      await database.drop();
    });

    it('record 100 between them when each alone stays under the cap', async () => {
      // 80 each: neither replica's own count reaches 100, so only the shared budget can hold them.
      await Promise.all([
        flood(80, 8, () => forgeProve(a.url, 'a')),
        flood(80, 8, () => forgeProve(b.url, 'b')),
      ]);
      await settle([a, b], 'PROVE', 160);
      assert.equal(await recorded(a, 'PROVE'), REJECTIONS_RECORDED_PER_MINUTE);
      assert.equal((await unrecorded(a.url, 'PROVE')) + (await unrecorded(b.url, 'PROVE')), 60);
    });
  });
});
