import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { START_STEPS } from '../../src/server.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { pollUntil } from '../helpers/poll.js';
import { DIST, processesUsing, runScript } from '../helpers/process.js';

/**
 * Processes still using `dir`, once none are or 10 s have passed: pg_ctl's wait ends when the postmaster
 * removes its pid file, a moment before the process is gone from /proc, which a loaded machine shows.
 */
const postgresLeft = (dir: string) =>
  pollUntil(
    () => processesUsing(dir),
    (left) => left.length === 0,
    10_000,
  );

const FAILING_START = path.join(DIST, 'test/fixtures/failing-start.js');
/** Far above the second or two a failed start takes to be undone; a process still alive then never ends. */
const EXIT_WITHIN_MS = 20_000;

interface Outcome {
  exit: { code: number | null; signal: NodeJS.Signals | null };
  /** The error start-up failed with. */
  error: string | undefined;
  /** Server connections still open in its database once start-up failed (DATABASE_URL only). */
  connections: number | null | undefined;
  /** Timers start-up created that were still pending when the process exited. */
  timers: string[] | undefined;
  output: string;
}

/**
 * Runs test/fixtures/failing-start.ts in `cwd` with `env` (and `failAfter` as its argument): the server
 * starts as `npm start` would and fails; the process must then exit by itself, without process.exit.
 */
async function failingStart(cwd: string, env: Record<string, string>, failAfter?: string): Promise<Outcome> {
  const run = runScript(FAILING_START, {
    cwd,
    env: { PORT: '0', LOG_LEVEL: 'warn', ...env },
    args: failAfter ? [failAfter] : [],
  });
  const kill = setTimeout(() => run.child.kill('SIGKILL'), EXIT_WITHIN_MS);
  const exit = await run.finished;
  clearTimeout(kill);
  const lines = run.stdout
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, never>);
  const failed = lines.find((l) => l.msg === 'start-up failed');
  return {
    exit,
    error: failed?.error,
    connections: failed?.connections,
    timers: lines.find((l) => l.msg === 'exit')?.timers,
    output: `${run.stdout.join('\n')}\n${run.stderr.join('')}`,
  };
}

/** Exited by itself (code 0, no signal: not killed after EXIT_WITHIN_MS) and left no timer pending. */
function assertNothingLeft(o: Outcome, error: string | RegExp): void {
  if (typeof error === 'string') assert.equal(o.error, error, o.output);
  else assert.match(o.error ?? '', error, o.output);
  assert.deepEqual(o.exit, { code: 0, signal: null }, `it exits by itself\n${o.output}`);
  assert.deepEqual(o.timers, [], 'no timer of start-up pending');
}

const injected = (step: string) => `start-up told to fail after ${step}`;

describe('start-up that fails at any step stops everything it started', () => {
  describe('with DATABASE_URL', () => {
    let db: TestDatabase;
    let cwd = '';
    before(async () => {
      db = await createTestDatabase();
      cwd = await mkdtemp(path.join(os.tmpdir(), 'idm-startfail-'));
    });
    after(async () => {
      await rm(cwd, { recursive: true, force: true });
      await db?.drop();
    });

    // Driven by the list itself: a step added to startServer is failed here too.
    for (const step of START_STEPS) {
      it(`after ${step}: no connection, socket or timer is left`, async () => {
        const o = await failingStart(cwd, { DATABASE_URL: db.url }, step);
        assertNothingLeft(o, injected(step));
        assert.equal(o.connections, 0, 'no pool or LISTEN connection left in its database');
      });
    }

    it('a database that refuses: nothing was started, and the process still exits by itself', async () => {
      const closed = net.createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const { port } = closed.address() as net.AddressInfo;
      await new Promise((resolve) => closed.close(resolve));
      const o = await failingStart(cwd, { DATABASE_URL: `postgres://app:pw@127.0.0.1:${port}/app` });
      assertNothingLeft(o, /^cannot connect to DATABASE_URL .*ECONNREFUSED/);
      assert.equal(o.connections, null, 'the database was never reached');
    });
  });

  describe('with the embedded PostgreSQL it starts itself', () => {
    let cwd = '';
    before(async () => {
      cwd = await mkdtemp(path.join(os.tmpdir(), 'idm-startfail-embedded-'));
    });
    after(() => rm(cwd, { recursive: true, force: true }));

    for (const step of START_STEPS) {
      it(`after ${step}: PostgreSQL is stopped, and no socket or timer is left`, async () => {
        const o = await failingStart(cwd, {}, step);
        assertNothingLeft(o, injected(step));
        assert.deepEqual(await postgresLeft(cwd), [], 'no PostgreSQL left on its data directory');
      });
    }

    it('the port taken (listen fails for real)', async () => {
      const taken = net.createServer();
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      const { port } = taken.address() as net.AddressInfo;
      try {
        const o = await failingStart(cwd, { PORT: String(port) });
        assertNothingLeft(o, new RegExp(`^cannot listen on HOST=127\\.0\\.0\\.1 PORT=${port}: .*EADDRINUSE`));
        assert.deepEqual(await postgresLeft(cwd), []);
      } finally {
        await new Promise((resolve) => taken.close(resolve));
      }
    });

    it('a spool directory that is a file (the spool fails for real)', async () => {
      const file = path.join(cwd, 'spool-is-a-file');
      await writeFile(file, 'not a directory');
      const o = await failingStart(cwd, { SPOOL_DIR: file });
      assertNothingLeft(o, /ENOTDIR|EEXIST/);
      assert.deepEqual(await postgresLeft(cwd), []);
    });
  });
});
