import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { DEV_TOKEN_LABEL } from '../../src/startup-summary.js';
import { createTestDatabase } from '../helpers/db.js';
import { processesUsing, runMain } from '../helpers/process.js';

describe('npm start with no environment (embedded PostgreSQL)', () => {
  let cwd = '';
  after(async () => {
    if (cwd) await rm(cwd, { recursive: true, force: true });
  });

  it('starts, prints its summary and a dev token, shuts down on SIGTERM leaving no process, and keeps its data', async () => {
    cwd = await mkdtemp(path.join(os.tmpdir(), 'idm-start-'));
    const env = { PORT: '0' };
    const first = runMain({ cwd, env });
    const listening = await first.waitForLog('server listening', 60_000);
    const url = String(listening.url);
    assert.equal((await fetch(`${url}/readyz`)).status, 200);
    // The summary is printed before the line waited for.
    const tokenLine = first.stdout.findIndex((l) => l.startsWith(DEV_TOKEN_LABEL));
    const token = first.stdout[tokenLine + 1] ?? '';
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'a dev token is printed');
    const port = Number(new URL(url).port);
    for (const line of [
      `  URL         http://127.0.0.1:${port}`,
      `  Explorer    http://127.0.0.1:${port}/graphql (open it in a browser)`,
      '  API auth    development secret (.data/dev-secrets.json)',
      '  Webhooks    prove    development secret (.data/dev-secrets.json)',
    ]) {
      assert.ok(first.stdout.includes(line), `${line}\nin\n${first.stdout.join('\n')}`);
    }
    assert.ok(
      first.stdout.some((l) =>
        /^ {2}Database {4}embedded PostgreSQL on 127\.0\.0\.1:\d+ \(data in \.data\/pg\)$/.test(l),
      ),
    );
    assert.equal(
      first.stdout.filter((l) => /listening at|"msg":"server listening"/i.test(l)).length,
      1,
      "one listening line: ours, not fastify's too",
    );
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
    const again = await second.waitForLog('server listening', 30_000);
    // The first start's token still works: it is signed with the secret kept in .data/dev-secrets.json.
    const answer = await fetch(`${String(again.url)}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: '{ riskSummary { total } }' }),
    });
    assert.equal(answer.status, 200);
    assert.deepEqual(await answer.json(), { data: { riskSummary: { total: 0 } } });
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

describe('npm start in production', () => {
  it('prints only JSON lines in production, the summary in the listening line without the password', async () => {
    const db = await createTestDatabase();
    const prodCwd = await mkdtemp(path.join(os.tmpdir(), 'idm-prod-'));
    try {
      const run = runMain({
        cwd: prodCwd,
        env: {
          NODE_ENV: 'production',
          PORT: '0',
          HOST: '127.0.0.1',
          DATABASE_URL: db.url,
          AUTH_JWT_SECRET: 'p'.repeat(32),
          PROVE_WEBHOOK_SECRET: 'prove-secret-not-to-print',
        },
      });
      const listening = await run.waitForLog('server listening', 30_000);
      run.child.kill('SIGTERM');
      assert.equal((await run.exited).code, 0);
      const dbUrl = new URL(db.url);
      dbUrl.password = '';
      assert.deepEqual(
        { ...listening, level: 0, time: 0 },
        {
          level: 0,
          time: 0,
          service: 'identity-monitor',
          msg: 'server listening',
          url: String(listening.url),
          nodeEnv: 'production',
          database: { kind: 'external', url: dbUrl.toString() },
          auth: 'env',
          webhooks: { prove: 'env', vove: null, passbase: null },
          enrollment: { kind: 'sandbox' },
        },
      );
      for (const line of run.stdout.filter((l) => l !== ''))
        assert.doesNotThrow(() => JSON.parse(line), line);
      const out = run.stdout.join('\n') + run.stderr.join('');
      assert.ok(!out.includes(decodeURIComponent(new URL(db.url).password)), 'no database password');
      assert.ok(!out.includes('prove-secret-not-to-print'), 'no webhook secret');
    } finally {
      await rm(prodCwd, { recursive: true, force: true });
      await db.drop();
    }
  });
});
