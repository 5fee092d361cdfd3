import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres.js';
import { DIST, runScript } from '../helpers/process.js';

/** A port nothing listens on: the OS hands it out, and it is closed again at once. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** The test cluster's admin URL with another password or database. */
function clusterUrl(change: { password?: string; database?: string }): URL {
  const url = new URL(process.env.TEST_PG_ADMIN_URL ?? '');
  if (change.password) url.password = change.password;
  if (change.database) url.pathname = `/${change.database}`;
  return url;
}

/** `npm start` and `npm run migrate` with this environment: exit code and all they wrote. */
async function bothFail(cwd: string, env: Record<string, string>) {
  const results = [];
  for (const script of ['main.js', 'db/migrate-cli.js']) {
    const run = runScript(path.join(DIST, 'src', script), { cwd, env: { PORT: '0', ...env } });
    const exit = await run.exited;
    results.push({ code: exit.code, stderr: run.stderr.join(''), stdout: run.stdout.join('\n') });
  }
  return results;
}

describe('a database that cannot be reached is named in one line, with the reason', () => {
  let cwd = '';
  before(async () => {
    cwd = await mkdtemp(path.join(os.tmpdir(), 'idm-dberr-'));
  });
  after(() => rm(cwd, { recursive: true, force: true }));

  it('DATABASE_URL at a closed port: host:port/database and ECONNREFUSED, never the password', async () => {
    const port = await closedPort();
    const [start, migrate] = await bothFail(cwd, {
      DATABASE_URL: `postgres://app:pw-not-to-print@127.0.0.1:${port}/app`,
    });
    const line = `cannot connect to DATABASE_URL (127.0.0.1:${port}/app): connect ECONNREFUSED 127.0.0.1:${port}\n`;
    assert.deepEqual(start && [start.code, start.stderr], [1, `start-up failed: ${line}`]);
    assert.deepEqual(migrate && [migrate.code, migrate.stderr], [1, `migration failed: ${line}`]);
    for (const r of [start, migrate]) assert.ok(!`${r?.stdout}${r?.stderr}`.includes('pw-not-to-print'));
  });

  it('a wrong password: the server says so, and the password is not printed', async () => {
    const url = clusterUrl({ password: 'wrong-pw-not-to-print' });
    const [start, migrate] = await bothFail(cwd, { DATABASE_URL: url.toString() });
    const line =
      `cannot connect to DATABASE_URL (127.0.0.1:${url.port}/postgres): ` +
      `password authentication failed for user "postgres"\n`;
    assert.deepEqual(start && [start.code, start.stderr], [1, `start-up failed: ${line}`]);
    assert.deepEqual(migrate && [migrate.code, migrate.stderr], [1, `migration failed: ${line}`]);
    for (const r of [start, migrate]) {
      assert.ok(!`${r?.stdout}${r?.stderr}`.includes('wrong-pw-not-to-print'));
    }
  });

  it('a database that does not exist is named by the server', async () => {
    const url = clusterUrl({ database: 'no_such_db' });
    const [start] = await bothFail(cwd, { DATABASE_URL: url.toString() });
    assert.deepEqual(start && [start.code, start.stderr], [
      1,
      `start-up failed: cannot connect to DATABASE_URL (127.0.0.1:${url.port}/no_such_db): ` +
        'database "no_such_db" does not exist\n',
    ]);
    assert.ok(!start?.stderr.includes(decodeURIComponent(url.password)));
  });

  it('an embedded PostgreSQL that cannot start is named with its data directory', async () => {
    const broken = await mkdtemp(path.join(os.tmpdir(), 'idm-dberr-embedded-'));
    try {
      // A file where the cluster's directory should be.
      await mkdir(path.join(broken, '.data'));
      await writeFile(path.join(broken, '.data', 'pg'), 'not a directory');
      const [start, migrate] = await bothFail(broken, {});
      const dir = path.join(broken, '.data', 'pg');
      for (const [r, prefix] of [
        [start, 'start-up failed'],
        [migrate, 'migration failed'],
      ] as const) {
        assert.equal(r?.code, 1);
        assert.ok(
          r?.stderr.startsWith(`${prefix}: cannot start the embedded PostgreSQL (data in ${dir}): `),
          r?.stderr,
        );
        assert.match(r?.stderr ?? '', /^[^\n]+\n$/, 'one line');
      }
    } finally {
      await rm(broken, { recursive: true, force: true });
    }
  });

  it('an embedded server that exits at start is named with the FATAL line of its own log', async () => {
    const broken = await mkdtemp(path.join(os.tmpdir(), 'idm-dberr-conf-'));
    try {
      const dir = path.join(broken, '.data', 'pg');
      await (await startEmbeddedPostgres({ dir, ephemeral: true })).stop();
      await appendFile(path.join(dir, 'postgresql.conf'), '\nshared_buffers = = 1\n');
      const run = runScript(path.join(DIST, 'src', 'main.js'), { cwd: broken, env: { PORT: '0' } });
      assert.equal((await run.exited).code, 1);
      assert.equal(
        run.stderr.join(''),
        `start-up failed: cannot start the embedded PostgreSQL (data in ${dir}): pg_ctl: could not start server; ` +
          `Examine the log output. (server.log: FATAL: configuration file "${dir}/postgresql.conf" contains errors)\n`,
      );
    } finally {
      await rm(broken, { recursive: true, force: true });
    }
  });
});
