/**
 * `npm test`: one embedded PostgreSQL per run, a template database with every migration applied, then
 * node's test runner over the compiled tests. Each test file clones the template into a fresh database
 * (test/helpers/db.ts). The cluster is stopped however the run ends.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createDataSource, migrate } from '../src/db/data-source.js';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const TEMPLATE_DB = 'app_template';

async function testFiles(dir: string, filter: string[]): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  // Filters match the path below the test directory: the checkout's own path (a worktree named
  // wt-phone-us, say) must not match `phone` and run every file.
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.test.js'))
    .map((e) => path.join(e.parentPath, e.name))
    .filter((f) => filter.length === 0 || filter.some((s) => path.relative(dir, f).includes(s)))
    .sort();
}

async function prepareTemplate(adminUrl: string): Promise<string> {
  const admin = new pg.Client(adminUrl);
  await admin.connect();
  await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${TEMPLATE_DB}`;
  const ds = createDataSource({ url: url.toString(), poolSize: 2 });
  await ds.initialize();
  await migrate(ds);
  await ds.destroy();
  return url.toString();
}

async function main(): Promise<number> {
  const filter = process.argv.slice(2);
  const files = await testFiles(here, filter);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'idm-test-'));
  const pgServer = await startEmbeddedPostgres({ dir: path.join(dir, 'pg'), ephemeral: true });
  try {
    await prepareTemplate(pgServer.url);
    const code = await new Promise<number>((resolve) => {
      const child = spawn(
        process.execPath,
        ['--enable-source-maps', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files],
        { stdio: 'inherit', env: { ...process.env, TEST_PG_ADMIN_URL: pgServer.url, NODE_ENV: 'test' } },
      );
      const forward = (sig: NodeJS.Signals) => child.kill(sig);
      process.once('SIGINT', forward).once('SIGTERM', forward);
      child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0)));
    });
    return code;
  } finally {
    await pgServer.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
