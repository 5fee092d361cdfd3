/**
 * PostgreSQL stopped, then killed with SIGKILL, under load, with the server (a real process) left
 * running: verified deliveries are answered 202 and spooled, /readyz says 503, nothing crashes; once
 * PostgreSQL is back the spool drains by itself, /readyz says 200, a subscriber that resumes after its
 * cursor has every acknowledged event, and the checker passes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { signToken } from '../../src/auth/tokens.js';
import {
  createDatabase,
  type EmbeddedPostgres,
  startEmbeddedPostgres,
} from '../../src/db/embedded-postgres.js';
import { isAlive } from '../../src/db/postmaster.js';
import { pollUntil } from '../helpers/poll.js';
import { freePort, processesUsing, type RunningMain, runMain, withExitStory } from '../helpers/process.js';
import { WEBHOOK_ENV } from '../helpers/webhooks.js';
import { assertNothingLost, checkLedger, spoolBacklog } from './check.js';
import { type Follower, follow } from './follow.js';
import { acknowledged, type LedgerEntry, startLoad, tally } from './ledger.js';

const FULL = process.env.RELIABILITY_FULL === '1';
const OUTAGE_MS = FULL ? 10_000 : 3_000;
const AUTH_SECRET = 'pg-faults-auth-secret-0123456789abcdef';
const SEED = Number(process.env.RELIABILITY_SEED ?? Date.now() % 2 ** 31);

describe(`PostgreSQL stopped and killed under load for ${OUTAGE_MS / 1000} s (seed ${SEED})`, () => {
  let dir = '';
  let pgDir = '';
  let pgPort = 0;
  let cluster: EmbeddedPostgres | undefined;
  let server: RunningMain | undefined;
  let follower: Follower | undefined;
  let url = '';
  let databaseUrl = '';
  let spoolDir = '';
  const ledger: LedgerEntry[] = [];

  const ready = async () => (await fetch(`${url}/readyz`)).status;
  const postmasterPid = async () =>
    Number((await readFile(path.join(pgDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'idm-pgfault-'));
    pgDir = path.join(dir, 'pg');
    pgPort = await freePort();
    cluster = await startEmbeddedPostgres({ dir: pgDir, port: pgPort });
    databaseUrl = await createDatabase(cluster.url, 'app');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    spoolDir = path.join(dir, 'spool');
    server = runMain({
      cwd: dir,
      env: {
        PORT: String(port),
        HOST: '127.0.0.1',
        DATABASE_URL: databaseUrl,
        SPOOL_DIR: spoolDir,
        AUTH_JWT_SECRET: AUTH_SECRET,
        ...WEBHOOK_ENV,
      },
    });
    await server.waitForLog('server listening', 60_000);
    const token = await signToken(new TextEncoder().encode(AUTH_SECRET), {
      scopes: ['events:subscribe', 'events:read'],
    });
    follower = await follow(url, token);
    // A first event gives the follower a cursor to resume after, from its first reconnect on.
    const first = startLoad({
      url,
      seed: SEED,
      concurrency: 1,
      maxDeliveries: 1,
      maxMs: 10_000,
      forgedShare: 0,
    });
    await first.done;
    ledger.push(...first.ledger);
    assert.deepEqual(
      first.ledger.map((e) => e.status),
      [200],
    );
    await pollUntil(
      async () => follower?.events().length ?? 0,
      (n) => n === 1,
      10_000,
    );
  });

  after(async () => {
    await follower?.stop();
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    // Stopped by the pid its own lock file records, whatever state a failure left it in.
    const pid = await postmasterPid().catch(() => 0);
    if (pid > 0 && isAlive(pid)) await cluster?.stop();
    const left = dir ? await processesUsing(dir) : [];
    if (dir) await rm(dir, { recursive: true, force: true });
    assert.deepEqual(left, [], 'no server or PostgreSQL process left behind');
  });

  /** Load, the fault, OUTAGE_MS of outage, PostgreSQL started again (same dir, port), load a while more. */
  async function outage(fault: () => Promise<void>) {
    const load = startLoad({
      url,
      seed: SEED + ledger.length,
      concurrency: 4,
      maxDeliveries: 5_000,
      maxMs: 120_000,
    });
    const from = ledger.length;
    try {
      await sleep(500);
      await fault();
      const downAt = load.ledger.length;
      assert.equal(
        await pollUntil(ready, (s) => s === 503, 5_000),
        503,
        '/readyz says 503 while PostgreSQL is away',
      );
      await sleep(OUTAGE_MS);
      const during = load.ledger.slice(downAt);
      assert.ok(
        server?.child.exitCode === null && server.child.signalCode === null,
        'the server is still running',
      );
      cluster = await startEmbeddedPostgres({ dir: pgDir, port: pgPort });
      assert.equal(await pollUntil(ready, (s) => s === 200, 30_000), 200, '/readyz says 200 again');
      await sleep(500);
      await load.stop();
      const spooled = during.filter((e) => e.status === 202);
      assert.ok(
        spooled.length > 0,
        `deliveries were spooled during the outage: ${JSON.stringify(tally(during))}`,
      );
      for (const e of spooled) assert.deepEqual(e.body, { spooled: true });
      const refused = during.filter((e) => !e.forged && e.status !== undefined && !acknowledged(e));
      assert.deepEqual(
        refused.map((e) => [e.status, e.body]),
        [],
        'no genuine delivery refused during the outage',
      );
    } finally {
      await load.stop();
      ledger.push(...load.ledger);
    }
    assert.deepEqual(
      await pollUntil(
        () => spoolBacklog(spoolDir),
        (b) => b.length === 0,
        30_000,
      ),
      [],
      'spool drained',
    );

    const client = new pg.Client(databaseUrl);
    await client.connect();
    try {
      const report = await checkLedger(ledger, client);
      assertNothingLost('postgres-fault', tally(ledger.slice(from)), report);
    } finally {
      await client.end();
    }
    // Every acknowledged event reaches the subscriber, once.
    const wanted = new Set(
      ledger
        .filter((e) => !e.forged && acknowledged(e))
        .flatMap((e) => e.events.map((x) => `${x.provider}|${x.providerEventId}`)),
    );
    const received = () => (follower?.events() ?? []).map((e) => `${e.provider}|${e.providerEventId}`);
    await pollUntil(
      async () => received(),
      (r) => [...wanted].every((k) => r.includes(k)),
      20_000,
    );
    const got = new Set(received());
    assert.deepEqual(
      [...wanted].filter((k) => !got.has(k)),
      [],
      'the subscriber missed none',
    );
    assert.equal(received().length, new Set(received()).size, 'the subscriber got none twice');
  }

  /** outage(), failing with the server's own last lines when it is the server that died. */
  const survives = (fault: () => Promise<void>) =>
    outage(fault).catch((err: unknown) => {
      throw server ? withExitStory(server, err) : err;
    });

  it('spools while PostgreSQL is stopped (pg_ctl stop), drains by itself once it is back, loses nothing', async () => {
    await survives(async () => {
      await cluster?.stop();
    });
  });

  it('spools while the postmaster is killed with SIGKILL, drains after crash recovery, loses nothing', async () => {
    await survives(async () => {
      process.kill(await postmasterPid(), 'SIGKILL');
    });
  });
});
