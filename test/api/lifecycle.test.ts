import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { runMain } from '../helpers/process.js';

const exec = promisify(execFile);

/** Processes whose command line mentions the directory (the embedded server's -D argument). */
async function processesUsing(dir: string): Promise<string[]> {
  const { stdout } = await exec('ps', ['-eo', 'pid,args']);
  return stdout.split('\n').filter((l) => l.includes(dir) && !l.includes('ps -eo'));
}

describe('npm start with no environment (embedded PostgreSQL)', () => {
  let cwd = '';
  after(async () => {
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  it('starts, prints a dev token, shuts down on SIGTERM leaving no process, and keeps its data', async () => {
    cwd = await mkdtemp(path.join(os.tmpdir(), 'idm-start-'));
    const env = { PORT: '0' };
    const first = runMain({ cwd, env });
    const listening = await first.waitForLog('server listening', 60_000);
    const url = String(listening.url);
    assert.equal((await fetch(`${url}/readyz`)).status, 200);
    const tokenLine = first.stdout.findIndex((l) => l.startsWith('Development admin token'));
    const token = first.stdout[tokenLine + 2] ?? '';
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'a dev token is printed');
    assert.ok(
      first.stdout.some((l) => l.includes('applied migrations')),
      'migrations ran on first start',
    );

    // A subscriber's socket is told the server is going away (1001).
    const closed = new Promise<number>((resolve) => {
      const client = createClient({
        url: `${url.replace('http', 'ws')}/graphql`,
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${token}` },
        lazy: false,
        retryAttempts: 0,
        onNonLazyError: () => {},
        on: { closed: (e) => resolve((e as { code: number }).code) },
      });
      void client;
    });
    await new Promise((r) => setTimeout(r, 300));

    const t0 = Date.now();
    first.child.kill('SIGTERM');
    const exit = await first.exited;
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(Date.now() - t0 < 10_000, 'exits within 10 s');
    assert.equal(await closed, 1001);
    assert.deepEqual(await processesUsing(cwd), [], 'no process left behind, embedded PostgreSQL included');

    const second = runMain({ cwd, env });
    await second.waitForLog('server listening', 30_000);
    assert.ok(!second.stdout.some((l) => l.includes('initialising embedded PostgreSQL')), 'data kept');
    assert.ok(!second.stdout.some((l) => l.includes('applied migrations')), 'nothing left to migrate');
    second.child.kill('SIGINT');
    assert.deepEqual(await second.exited, { code: 0, signal: null });
    assert.deepEqual(await processesUsing(cwd), []);
  });

  it('refuses to start with a bad value, in one line naming the variable', async () => {
    const run = runMain({ cwd: os.tmpdir(), env: { PORT: 'eighty' } });
    const exit = await run.exited;
    assert.equal(exit.code, 1);
    assert.equal(
      run.stderr.join(''),
      'configuration error: PORT: must be an integer from 0 to 65535, got "eighty"\n',
    );
  });

  it('refuses to start in production without API auth', async () => {
    const run = runMain({ cwd: os.tmpdir(), env: { NODE_ENV: 'production', PORT: '0' } });
    assert.equal((await run.exited).code, 1);
    assert.match(
      run.stderr.join(''),
      /^configuration error: AUTH_JWT_SECRET: NODE_ENV=production requires API auth/,
    );
  });
});
