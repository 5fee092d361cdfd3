/**
 * The spool's disk fills up while PostgreSQL is down: the server (a real process) spools on a small
 * tmpfs until it is full, then answers 503, never a 2xx it cannot keep. Nothing half-written is left or
 * loaded: once PostgreSQL is back, every 202'd delivery is stored once and no event only a 503'd one
 * carried is. Mounting a tmpfs needs root (CI runs as root); elsewhere the test skips, saying why.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import {
  createDatabase,
  type EmbeddedPostgres,
  startEmbeddedPostgres,
} from '../../src/db/embedded-postgres.js';
import { pollUntil } from '../helpers/poll.js';
import { freePort, processesUsing, type RunningMain, runMain } from '../helpers/process.js';
import { WEBHOOK_ENV } from '../helpers/webhooks.js';
import { assertNothingLost, checkLedger, spoolBacklog } from './check.js';
import { acknowledged, type LedgerEntry, startLoad, tally } from './ledger.js';

const run = promisify(execFile);
/** Room for a few dozen records (tmpfs gives each file at least a page). */
const SPOOL_FS_BYTES = 256 * 1024;
const SEED = Number(process.env.RELIABILITY_SEED ?? Date.now() % 2 ** 31);

/** Mounts a tmpfs of `bytes` at `dir`; null when this process may not (not root, no CAP_SYS_ADMIN). */
async function mountTmpfs(dir: string, bytes: number): Promise<string | null> {
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', dir]);
    return null;
  } catch (err) {
    return (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
  }
}

describe(`the spool's disk full while PostgreSQL is down (seed ${SEED})`, () => {
  let dir = '';
  let spoolFs = '';
  let mounted = false;
  let cannotMount: string | null = null;
  let cluster: EmbeddedPostgres | undefined;
  let pgDir = '';
  let pgPort = 0;
  let server: RunningMain | undefined;
  let url = '';
  let databaseUrl = '';

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'idm-diskfull-'));
    spoolFs = path.join(dir, 'spool-fs');
    await mkdir(spoolFs);
    cannotMount = await mountTmpfs(spoolFs, SPOOL_FS_BYTES);
    if (cannotMount) return;
    mounted = true;
    pgDir = path.join(dir, 'pg');
    pgPort = await freePort();
    cluster = await startEmbeddedPostgres({ dir: pgDir, port: pgPort });
    databaseUrl = await createDatabase(cluster.url, 'app');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    server = runMain({
      cwd: dir,
      env: {
        PORT: String(port),
        HOST: '127.0.0.1',
        DATABASE_URL: databaseUrl,
        SPOOL_DIR: path.join(spoolFs, 'spool'),
        AUTH_JWT_SECRET: 'disk-full-auth-secret-0123456789abcdef',
        ...WEBHOOK_ENV,
      },
    });
    await server.waitForLog('server listening', 60_000);
  });

  after(async () => {
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    await cluster?.stop().catch(() => undefined);
    if (mounted) await run('umount', [spoolFs]);
    const left = dir ? await processesUsing(dir) : [];
    if (dir) await rm(dir, { recursive: true, force: true });
    assert.deepEqual(left, [], 'no server or PostgreSQL process left behind');
  });

  it('answers 503 once the spool is full, never a false 2xx, and loads only whole records', async (t) => {
    if (cannotMount) {
      t.skip(`cannot mount a tmpfs here (${cannotMount}): run as root`);
      return;
    }
    await cluster?.stop();
    const ledger: LedgerEntry[] = [];
    const load = startLoad({
      url,
      seed: SEED,
      concurrency: 4,
      maxDeliveries: 400,
      maxMs: 120_000,
      forgedShare: 0,
    });
    await load.done;
    ledger.push(...load.ledger);
    const statuses = new Set(ledger.map((e) => e.status));
    assert.deepEqual(
      [...statuses].sort(),
      [202, 503],
      `while PostgreSQL is down, only 202 (spooled) and 503 (the spool is full): ${JSON.stringify(tally(ledger))}`,
    );
    for (const e of ledger.filter((x) => x.status === 503))
      assert.deepEqual(e.body, { error: 'unavailable' });
    const spoolDir = path.join(spoolFs, 'spool');
    const names = await readdir(spoolDir);
    assert.deepEqual(
      names.filter((n) => n.startsWith('.')),
      [],
      'no .tmp left behind by a write the full disk cut short',
    );
    assert.equal(
      names.filter((n) => n.endsWith('.json')).length,
      ledger.filter(acknowledged).length,
      'one whole file per 202',
    );

    cluster = await startEmbeddedPostgres({ dir: pgDir, port: pgPort });
    assert.deepEqual(
      await pollUntil(
        () => spoolBacklog(spoolDir),
        (b) => b.length === 0,
        60_000,
      ),
      [],
      'the spool drained, nothing set aside',
    );
    const client = new pg.Client(databaseUrl);
    await client.connect();
    try {
      const report = await checkLedger(ledger, client);
      // Events only 503'd deliveries carried (a resend may carry an event a 202'd one did too).
      const ackedKeys = new Set(
        ledger
          .filter(acknowledged)
          .flatMap((e) => e.events.map((x) => `${x.providerEventId}|${x.providerIdentityId}`)),
      );
      const refusedOnly = ledger
        .filter((e) => e.status === 503)
        .flatMap((e) => e.events)
        .filter((x) => !ackedKeys.has(`${x.providerEventId}|${x.providerIdentityId}`));
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM identity_events e JOIN identities i ON i.id = e.identity_id
         WHERE (e.provider_event_id, i.provider_identity_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
        [refusedOnly.map((x) => x.providerEventId), refusedOnly.map((x) => x.providerIdentityId)],
      );
      assert.equal(rows[0]?.n, 0, 'no event of a 503 stored');
      assertNothingLost('spool disk full', tally(ledger), report);
    } finally {
      await client.end();
    }
  });
});
