import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { gatherSpools, workerConfig, workerPoolSize } from '../../src/cluster.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { DEFAULT_POOL_SIZE } from '../../src/db/data-source.js';
import { createLogger } from '../../src/observability/logger.js';
import { formatStartupSummary } from '../../src/startup-summary.js';

const PRODUCTION = {
  NODE_ENV: 'production',
  AUTH_JWT_SECRET: 'x'.repeat(32),
  DATABASE_URL: 'postgres://db/app',
};

describe('WEB_CONCURRENCY', () => {
  it('is one process in development and tests, one per core in production', () => {
    assert.equal(loadConfig({}, '/srv/app').webConcurrency, 1);
    assert.equal(loadConfig({ NODE_ENV: 'test' }, '/srv/app').webConcurrency, 1);
    assert.equal(loadConfig(PRODUCTION, '/srv/app').webConcurrency, os.availableParallelism());
    assert.equal(loadConfig({ ...PRODUCTION, WEB_CONCURRENCY: '1' }, '/srv/app').webConcurrency, 1);
    assert.equal(loadConfig({ WEB_CONCURRENCY: '3' }, '/srv/app').webConcurrency, 3);
  });

  it('refuses anything but a whole number from 1 to 1024, naming the variable', () => {
    for (const bad of ['0', '-2', '1.5', 'four', '1025']) {
      assert.throws(
        () => loadConfig({ WEB_CONCURRENCY: bad }, '/srv/app'),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.message ===
            `WEB_CONCURRENCY: must be a whole number of worker processes from 1 to 1024, got ${JSON.stringify(bad)}`,
      );
    }
  });
});

describe('cluster workers', () => {
  it('share one process’s pool between them, but each keeps enough for its own work', () => {
    assert.equal(workerPoolSize(1), DEFAULT_POOL_SIZE);
    assert.equal(workerPoolSize(2), 10);
    assert.equal(workerPoolSize(3), 7);
    assert.equal(workerPoolSize(16), 4);
  });

  it("run with the primary's database and development secret, each in a spool subdirectory of its own", () => {
    const config = loadConfig({ WEB_CONCURRENCY: '2', NODE_ENV: 'test' }, '/srv/app');
    const secret = Buffer.alloc(32, 7);
    const worker = workerConfig(config, {
      index: 2,
      poolSize: 10,
      databaseUrl: 'postgres://postgres:pw@127.0.0.1:5555/postgres',
      authSecret: secret.toString('base64'),
    });
    assert.equal(worker.databaseUrl, 'postgres://postgres:pw@127.0.0.1:5555/postgres');
    assert.equal(worker.spoolDir, '/srv/app/.data/spool/worker-2');
    assert.equal(worker.auth.kind, 'dev');
    assert.deepEqual(Buffer.from(worker.auth.kind === 'dev' ? worker.auth.secret : []), secret);
  });

  it('print the start-up summary with a Workers row only when there are several', () => {
    const info = {
      url: 'http://127.0.0.1:4000',
      config: loadConfig({ NODE_ENV: 'test' }, '/srv/app'),
      devToken: null,
      database: { kind: 'external', url: 'postgres://db/app' } as const,
      cwd: '/srv/app',
    };
    assert.doesNotMatch(formatStartupSummary(info), /Workers/);
    assert.doesNotMatch(formatStartupSummary({ ...info, workers: 1 }), /Workers/);
    assert.match(
      formatStartupSummary({ ...info, workers: 4 }),
      /\n {2}Workers {5}4 processes \(WEB_CONCURRENCY\) sharing the port\n {2}Database/,
    );
  });
});

describe('gatherSpools: deliveries spooled by a run with another number of workers', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });
  const log = createLogger('silent');

  async function spoolWith(files: Record<string, string>): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'idm-gather-'));
    dirs.push(dir);
    for (const [name, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await writeFile(path.join(dir, name), text);
    }
    return dir;
  }

  async function tree(dir: string): Promise<string[]> {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => e.isFile())
      .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
      .sort();
  }

  it('with two workers, moves those of SPOOL_DIR itself and of worker-3 into worker-1', async () => {
    const dir = await spoolWith({
      '001-1-1.json': 'a',
      'failed/002-1-1.json': 'b',
      '.003-1-1.json.tmp': 'torn',
      'worker-1/004-2-1.json': 'c',
      'worker-2/005-3-1.json': 'd',
      'worker-3/006-4-1.json': 'e',
      'worker-3/failed/007-4-1.json': 'f',
    });
    await gatherSpools(dir, 2, log);
    assert.deepEqual(await tree(dir), [
      '.003-1-1.json.tmp',
      'worker-1/001-1-1.json',
      'worker-1/004-2-1.json',
      'worker-1/006-4-1.json',
      'worker-1/failed/002-1-1.json',
      'worker-1/failed/007-4-1.json',
      'worker-2/005-3-1.json',
    ]);
    assert.ok(!(await readdir(dir)).includes('worker-3'), 'the emptied directory is gone');
  });

  it('with one process, moves every worker-<k> into SPOOL_DIR itself', async () => {
    const dir = await spoolWith({
      '001-1-1.json': 'a',
      'worker-1/002-2-1.json': 'b',
      'worker-2/003-3-1.json': 'c',
      'worker-2/failed/004-3-1.json': 'd',
      'other/005-1-1.json': 'not a worker’s',
    });
    await gatherSpools(dir, 1, log);
    assert.deepEqual(await tree(dir), [
      '001-1-1.json',
      '002-2-1.json',
      '003-3-1.json',
      'failed/004-3-1.json',
      'other/005-1-1.json',
    ]);
  });

  it('never replaces a record of the same name, and does nothing when SPOOL_DIR does not exist yet', async () => {
    const dir = await spoolWith({ 'worker-1/001-1-1.json': 'one', 'worker-2/001-1-1.json': 'two' });
    await gatherSpools(dir, 1, log);
    assert.deepEqual(await tree(dir), ['001-1-1-worker-2.json', '001-1-1.json']);
    await gatherSpools(path.join(dir, 'missing'), 2, log);
    assert.deepEqual(await tree(dir), ['001-1-1-worker-2.json', '001-1-1.json']);
  });
});
