import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import {
  type DevSecrets,
  DevSecretsError,
  devSecretsPath,
  loadOrCreateDevSecrets,
} from '../../src/dev-secrets.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'idm-devsecrets-'));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('development secrets (.data/dev-secrets.json)', () => {
  it('are generated once, kept with mode 0600, and read back unchanged', async () => {
    const dataDir = path.join(await tempDir(), '.data');
    const first = loadOrCreateDevSecrets(dataDir);
    assert.ok(Buffer.from(first.authJwtSecret, 'base64url').length >= 32);
    assert.match(first.voveWebhookSecret, /^whsec_[A-Za-z0-9+/]+=*$/);
    assert.match(first.passbaseWebhookSecret, /^[0-9a-f]{64}$/);
    assert.match(first.proveWebhookSecret, /^whsec_/);
    const file = devSecretsPath(dataDir);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), first);
    assert.deepEqual(loadOrCreateDevSecrets(dataDir), first, 'the same secrets on the next start');
  });

  it('fill in a missing secret and keep the others', async () => {
    const dataDir = await tempDir();
    await writeFile(
      devSecretsPath(dataDir),
      JSON.stringify({ authJwtSecret: 'kept-secret-of-at-least-32-bytes!!' }),
    );
    const s = loadOrCreateDevSecrets(dataDir);
    assert.equal(s.authJwtSecret, 'kept-secret-of-at-least-32-bytes!!');
    assert.match(s.voveWebhookSecret, /^whsec_/);
    assert.equal((await stat(devSecretsPath(dataDir))).mode & 0o777, 0o600);
  });

  it('refuse a file that is not a JSON object, naming it and the fix', async () => {
    const dataDir = await tempDir();
    await writeFile(devSecretsPath(dataDir), '{not json');
    assert.throws(
      () => loadOrCreateDevSecrets(dataDir),
      (err: unknown) =>
        err instanceof DevSecretsError &&
        err.message ===
          `${devSecretsPath(dataDir)}: is not a JSON object; delete it to generate new development secrets`,
    );
  });

  it('configure every provider and API auth in development, the environment winning', async () => {
    const cwd = await tempDir();
    const c = loadConfig({ VOVE_WEBHOOK_SECRET: `whsec_${'A'.repeat(32)}` }, cwd, {
      devSecrets: loadOrCreateDevSecrets,
    });
    const stored = JSON.parse(
      await readFile(path.join(cwd, '.data', 'dev-secrets.json'), 'utf8'),
    ) as DevSecrets;
    assert.equal(c.webhooks.proveSecret, stored.proveWebhookSecret);
    assert.equal(c.webhooks.voveSecret, `whsec_${'A'.repeat(32)}`);
    assert.deepEqual(c.webhooks.passbaseKey, Buffer.from(stored.passbaseWebhookSecret, 'hex'));
    assert.equal(c.auth.kind, 'dev');
    assert.deepEqual(c.auth.secret, new TextEncoder().encode(stored.authJwtSecret));
    assert.deepEqual(c.secretSources, {
      auth: 'dev-secrets',
      prove: 'dev-secrets',
      vove: 'env',
      passbase: 'dev-secrets',
    });
  });

  it('are never read or made in production or tests', () => {
    const never = () => assert.fail('dev secrets must not be used here');
    const prod = loadConfig(
      { NODE_ENV: 'production', AUTH_JWT_SECRET: 'x'.repeat(32), DATABASE_URL: 'postgres://db/app' },
      '/srv/app',
      { devSecrets: never },
    );
    assert.equal(prod.webhooks.proveSecret, null);
    assert.deepEqual(prod.secretSources, { auth: 'env', prove: null, vove: null, passbase: null });
    const test = loadConfig({ NODE_ENV: 'test' }, '/srv/app', { devSecrets: never });
    assert.equal(test.webhooks.voveSecret, null);
    assert.equal(test.secretSources.auth, 'random');
  });

  it('are not read when the environment sets everything', () => {
    const c = loadConfig(
      {
        AUTH_JWT_SECRET: 'x'.repeat(32),
        PROVE_WEBHOOK_SECRET: 'p',
        VOVE_WEBHOOK_SECRET: `whsec_${'A'.repeat(32)}`,
        PASSBASE_WEBHOOK_SECRET: 'k'.repeat(32),
      },
      '/srv/app',
      { devSecrets: () => assert.fail('not needed') },
    );
    assert.equal(c.secretSources.prove, 'env');
  });
});
