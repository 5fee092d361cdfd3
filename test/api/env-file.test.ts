import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { runMain } from '../helpers/process.js';

describe('npm start reads .env in its working directory, the environment winning', () => {
  let cwd = '';
  let db: TestDatabase;
  before(async () => {
    cwd = await mkdtemp(path.join(os.tmpdir(), 'idm-envfile-'));
    db = await createTestDatabase();
    await writeFile(
      path.join(cwd, '.env'),
      `# a bad port, and a database\nPORT=notaport\nDATABASE_URL=${db.url}\n`,
    );
  });
  after(async () => {
    await rm(cwd, { recursive: true, force: true });
    await db.drop();
  });

  it('refuses a bad value from .env in one line naming the variable', async () => {
    const run = runMain({ cwd, env: {} });
    assert.equal((await run.exited).code, 1);
    assert.equal(
      run.stderr.join(''),
      'configuration error: PORT: must be an integer from 0 to 65535, got "notaport"\n',
    );
  });

  it('starts when the environment overrides that value, using the rest of .env', async () => {
    const run = runMain({ cwd, env: { PORT: '0' } });
    await run.waitForLog('server listening', 30_000);
    run.child.kill('SIGTERM');
    assert.equal((await run.exited).code, 0);
    const url = new URL(db.url);
    const password = decodeURIComponent(url.password);
    url.password = '';
    // DATABASE_URL came from .env: the summary names it, without its password.
    assert.ok(run.stdout.includes(`  Database    DATABASE_URL ${url}`), run.stdout.join('\n'));
    assert.ok(!run.stdout.join('\n').includes(password));
  });
});

describe('NODE_ENV', () => {
  it('refuses a value other than development, production or test, by name, in one line', async () => {
    const run = runMain({ cwd: os.tmpdir(), env: { NODE_ENV: 'staging', PORT: '0' } });
    assert.equal((await run.exited).code, 1);
    assert.equal(
      run.stderr.join(''),
      'configuration error: NODE_ENV: must be one of development, production, test, got "staging"\n',
    );
    assert.deepEqual(run.stdout, [], 'nothing started, nothing logged');
  });
});
