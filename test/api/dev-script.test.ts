import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEV_TOKEN_LABEL } from '../../src/startup-summary.js';
import { processesUsing, type RunningMain, runScript } from '../helpers/process.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** A copy of what `npm run dev` builds and runs: it compiles into its own dist/, not this checkout's. */
async function copyOfCheckout(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'idm-dev-'));
  for (const name of [
    'src',
    'migrations',
    'sql',
    'scripts',
    'package.json',
    'tsconfig.json',
    'tsconfig.build.json',
  ]) {
    await cp(path.join(ROOT, name), path.join(dir, name), { recursive: true });
  }
  await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

function listening(run: RunningMain): string[] {
  return run.stdout.filter((l) => l.includes('"msg":"server listening"'));
}

async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  for (const t0 = Date.now(); !ok(); await new Promise((r) => setTimeout(r, 100))) {
    if (Date.now() - t0 > timeoutMs) assert.fail(`${what} within ${timeoutMs} ms`);
  }
}

describe('npm run dev', () => {
  let dir = '';
  before(async () => {
    dir = await copyOfCheckout();
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('starts once the first build is done, restarts once per good build, and its dev token survives', {
    timeout: 300_000,
  }, async () => {
    const run = runScript(path.join(dir, 'scripts', 'dev.mjs'), { cwd: dir, env: { PORT: '0' } });
    try {
      const first = await run.waitForLog('server listening', 240_000);
      const token = run.stdout[run.stdout.findIndex((l) => l.startsWith(DEV_TOKEN_LABEL)) + 1] ?? '';
      assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
      // The old script restarted a few seconds after start-up, when tsc --watch rewrote dist/.
      await new Promise((r) => setTimeout(r, 5000));
      assert.equal(listening(run).length, 1, 'not restarted without a change');
      assert.ok(!run.stdout.some((l) => l.includes('"msg":"shutting down"')));

      // A change that does not compile leaves the server running the last good build.
      const changed = path.join(dir, 'src', 'startup-summary.ts');
      const source = await readFile(changed, 'utf8');
      await writeFile(changed, `${source}\nexport const broken: number = 'text';\n`);
      const kept = '[dev] the server keeps running the last good build';
      await until('the type error reported', () => run.stdout.includes(kept), 120_000);
      assert.equal(listening(run).length, 1, 'not restarted on a failed build');

      await writeFile(changed, `${source}\n// a change\n`);
      await until('restarted after the change', () => listening(run).length === 2, 120_000);
      await new Promise((r) => setTimeout(r, 3000));
      assert.equal(listening(run).length, 2, 'restarted once');
      const second = JSON.parse(listening(run)[1] ?? '{}') as { url: string };
      assert.notEqual(second.url, first.url, 'a new server (PORT=0)');

      const res = await fetch(`${second.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: '{ riskSummary { total } }' }),
      });
      assert.equal(res.status, 200, 'the token printed before the restart still works');
      assert.equal(((await res.json()) as { errors?: unknown }).errors, undefined);
    } finally {
      run.child.kill('SIGINT');
    }
    assert.deepEqual(await run.exited, { code: 0, signal: null });
    assert.deepEqual(await processesUsing(dir), [], 'no server or PostgreSQL left behind');
  });
});
