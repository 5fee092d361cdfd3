import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chown, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres.js';
import { processesUsing, type RunningMain, runMain } from '../helpers/process.js';

const exec = promisify(execFile);
const MIGRATE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/db/migrate-cli.js');

/** The postmasters serving a directory: a pg_ctl still finishing may mention it too, for a moment. */
async function postmastersUsing(dir: string): Promise<string[]> {
  return (await processesUsing(dir)).filter((l) => /\/bin\/postgres\s/.test(l));
}

async function readyz(url: string): Promise<number> {
  return (await fetch(`${url}/readyz`)).status;
}

function logged(run: RunningMain, text: string): boolean {
  return run.stdout.some((l) => l.includes(text));
}

/**
 * Each case starts `npm start` (and friends) as real processes in one clone, initialised once; every
 * case must leave the cluster stopped, which the next relies on.
 */
describe('embedded PostgreSQL: a process stops only the server it started', () => {
  let cwd = '';
  let pgDir = '';
  const children: ChildProcess[] = [];

  async function start(): Promise<{ run: RunningMain; url: string }> {
    const run = runMain({ cwd, env: { PORT: '0' } });
    children.push(run.child);
    const listening = await run.waitForLog('server listening', 60_000);
    return { run, url: String(listening.url) };
  }

  async function stops(run: RunningMain, signal: NodeJS.Signals): Promise<void> {
    run.child.kill(signal);
    assert.deepEqual(await run.exited, { code: 0, signal: null }, `exits 0 on ${signal}`);
  }

  async function assertNothingLeft(): Promise<void> {
    assert.deepEqual(await processesUsing(cwd), [], 'no process left behind, embedded PostgreSQL included');
  }

  async function postmasterPid(): Promise<number> {
    return Number((await readFile(path.join(pgDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  }

  before(async () => {
    cwd = await mkdtemp(path.join(os.tmpdir(), 'idm-owner-'));
    pgDir = path.join(cwd, '.data', 'pg');
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const line of await processesUsing(cwd))
      process.kill(Number(line.trim().split(/\s+/)[0]), 'SIGKILL');
    await rm(cwd, { recursive: true, force: true });
  });

  it('two servers started at once in a fresh clone initialise one cluster and both come up', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    const owners = [a, b].filter((s) => logged(s.run, 'started embedded PostgreSQL'));
    assert.equal(owners.length, 1, 'exactly one started the server');
    for (const s of [a, b]) assert.equal(await readyz(s.url), 200);
    await Promise.all([stops(a.run, 'SIGTERM'), stops(b.run, 'SIGTERM')]);
    await assertNothingLeft();
  });

  it('npm run migrate beside a running server leaves its PostgreSQL running', async () => {
    const a = await start();
    assert.ok(logged(a.run, 'started embedded PostgreSQL'), 'the first process starts the server');
    assert.ok(!logged(a.run, 'initialising'), 'the cluster from the first case is reused');
    const migrate = await exec(process.execPath, [MIGRATE], {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/' },
    });
    assert.match(migrate.stdout, /already running .*using it, and leaving it running on exit/);
    assert.match(migrate.stdout, /migrations are up to date/);
    assert.equal(await readyz(a.url), 200, 'the server still has its database');
    await stops(a.run, 'SIGTERM');
    await assertNothingLeft();
  });

  it('a second server in the same clone adopts the PostgreSQL and leaves it to the first', async () => {
    const a = await start();
    const b = await start();
    assert.ok(logged(b.run, 'leaving it running on exit'), 'the second says it adopts');
    assert.equal(await readyz(b.url), 200);
    await stops(b.run, 'SIGINT');
    assert.ok(logged(b.run, 'another process started it'), 'and that it left the server running');
    assert.equal(await readyz(a.url), 200, 'the first still has its database');
    await stops(a.run, 'SIGTERM');
    await assertNothingLeft();
  });

  it('SIGHUP (a closed terminal) shuts down like SIGTERM, PostgreSQL included', async () => {
    const a = await start();
    await stops(a.run, 'SIGHUP');
    await assertNothingLeft();
  });

  it('a server left running by a SIGKILLed npm start is taken over and stopped by the next', async () => {
    const a = await start();
    a.run.child.kill('SIGKILL');
    await a.run.exited;
    assert.equal((await postmastersUsing(cwd)).length, 1, 'its PostgreSQL runs on');

    const b = await start();
    assert.ok(logged(b.run, 'left by a process that is gone'), 'the next says it takes the server over');
    assert.equal(await readyz(b.url), 200);
    await stops(b.run, 'SIGTERM');
    await assertNothingLeft();
  });

  it('recovers from a stale postmaster.pid left by SIGKILLed processes', async () => {
    const a = await start();
    const pid = await postmasterPid();
    a.run.child.kill('SIGKILL');
    process.kill(pid, 'SIGKILL');
    await a.run.exited;
    assert.ok(await stat(path.join(pgDir, 'postmaster.pid')), 'the lock file is left behind');

    const b = await start();
    assert.ok(logged(b.run, 'started embedded PostgreSQL'));
    assert.equal(await readyz(b.url), 200);
    await stops(b.run, 'SIGTERM');
    await assertNothingLeft();
  });

  it('recovers from a stale postmaster.pid whose PID now belongs to another live process', async () => {
    // postgres refuses a lock file naming any live process of its own user (as root: `postgres`).
    const asRoot = process.getuid?.() === 0;
    const ids = asRoot
      ? {
          uid: Number((await exec('id', ['-u', 'postgres'])).stdout),
          gid: Number((await exec('id', ['-g', 'postgres'])).stdout),
        }
      : {};
    const impostor = spawn('sleep', ['60'], { stdio: 'ignore', ...ids });
    children.push(impostor);
    const lockFile = path.join(pgDir, 'postmaster.pid');
    // A port nothing listens on: a stale file's port must not be taken for a running server.
    await writeFile(lockFile, `${impostor.pid}\n${pgDir}\n1700000000\n1\n\n127.0.0.1\n  0 0\nready   \n`, {
      mode: 0o600,
    });
    if (asRoot) await chown(lockFile, ids.uid ?? 0, ids.gid ?? 0);

    const b = await start();
    assert.ok(logged(b.run, 'started embedded PostgreSQL'), 'starts its own server, not the stale port');
    assert.equal(await readyz(b.url), 200);
    assert.equal(impostor.exitCode, null, 'the impostor was not signalled');
    await stops(b.run, 'SIGTERM');
    await assertNothingLeft();
    impostor.kill();
  });

  it('two servers started at the same moment on a stopped cluster both come up, one owning it', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    const owners = [a, b].filter((s) => logged(s.run, 'started embedded PostgreSQL'));
    assert.equal(owners.length, 1, 'exactly one started the server');
    const [owner] = owners;
    const adopter = owner === a ? b : a;
    assert.ok(logged(adopter.run, 'leaving it running on exit'));
    for (const s of [a, b]) assert.equal(await readyz(s.url), 200);
    await stops(adopter.run, 'SIGTERM');
    assert.equal(await readyz(owner!.url), 200);
    await stops(owner!.run, 'SIGTERM');
    await assertNothingLeft();
  });

  it('two starts in one instant in-process: the loser of pg_ctl start adopts the winner', async () => {
    const both = await Promise.all([
      startEmbeddedPostgres({ dir: pgDir }),
      startEmbeddedPostgres({ dir: pgDir }),
    ]);
    assert.deepEqual(both.map((s) => s.owned).sort(), [false, true]);
    assert.equal(both[0]!.port, both[1]!.port);
    const adopted = both.find((s) => !s.owned)!;
    await adopted.stop();
    assert.equal((await postmastersUsing(cwd)).length, 1, 'an adopter leaves the server running');
    await both.find((s) => s.owned)!.stop();
    await assertNothingLeft();
  });
});
