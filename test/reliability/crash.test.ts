/**
 * The server killed with SIGKILL at random moments under load, restarted on the same port each time:
 * every acknowledged delivery is stored exactly once, no forgery is, and identity states equal the
 * fold over the stored events. 10 kills with RELIABILITY_FULL=1, 2 in plain npm test.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { pollUntil } from '../helpers/poll.js';
import { freePort, type RunningMain, runMain } from '../helpers/process.js';
import { rng } from '../helpers/random.js';
import { WEBHOOK_ENV } from '../helpers/webhooks.js';
import { assertNothingLost, checkLedger, spoolBacklog } from './check.js';
import { startLoad, tally } from './ledger.js';

const FULL = process.env.RELIABILITY_FULL === '1';
const KILLS = FULL ? 10 : 2;
const SEED = Number(process.env.RELIABILITY_SEED ?? Date.now() % 2 ** 31);

describe(`the server killed with SIGKILL ${KILLS} times under load (seed ${SEED})`, () => {
  let cwd = '';
  let db: TestDatabase | undefined;
  let server: RunningMain | undefined;
  after(async () => {
    // Killed by its recorded pid only; then its database and directory go.
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    await db?.drop();
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  it('loses no acknowledged event, stores none twice, accepts no forgery, and keeps states equal to the fold', async () => {
    const random = rng(SEED);
    cwd = await mkdtemp(path.join(os.tmpdir(), 'idm-crash-'));
    db = await createTestDatabase();
    const port = await freePort();
    const spoolDir = path.join(cwd, 'spool');
    const env = {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: db.url,
      SPOOL_DIR: spoolDir,
      AUTH_JWT_SECRET: 'crash-test-auth-secret-0123456789abcdef',
      ...WEBHOOK_ENV,
    };
    const start = async () => {
      server = runMain({ cwd, env });
      await server.waitForLog('server listening', 60_000);
    };
    await start();
    const url = `http://127.0.0.1:${port}`;
    const load = startLoad({
      url,
      seed: SEED,
      concurrency: 8,
      maxDeliveries: FULL ? 20_000 : 2_000,
      maxMs: FULL ? 180_000 : 30_000,
    });
    try {
      for (let kill = 0; kill < KILLS; kill++) {
        await sleep(200 + Math.floor(random() * (FULL ? 1500 : 800)));
        server?.child.kill('SIGKILL');
        assert.equal((await server?.exited)?.signal, 'SIGKILL');
        await start();
      }
      await sleep(1000); // load on the last start too
    } finally {
      await load.stop();
    }
    // The loader drains what earlier runs spooled; nothing is left, nothing set aside.
    const backlog = await pollUntil(
      () => spoolBacklog(spoolDir),
      (b) => b.length === 0,
      30_000,
    );
    assert.deepEqual(backlog, []);

    const client = new pg.Client(db.url);
    await client.connect();
    try {
      const report = await checkLedger(load.ledger, client);
      const figures = { seed: SEED, kills: KILLS, ...tally(load.ledger), ...report };
      assertNothingLost('crash', figures, report);
      assert.ok(figures.acknowledged > 0, 'the load got answers');
      assert.ok(figures.networkErrors > 0, 'the kills cut requests short');
    } finally {
      await client.end();
    }
    server?.child.kill('SIGTERM');
    await server?.exited;
  });
});
