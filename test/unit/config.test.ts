import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';

function errorOf(env: Record<string, string>): string {
  try {
    loadConfig(env, '/srv/app');
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.ok(!err.message.includes('\n'), 'the message is one line');
    return err.message;
  }
  assert.fail('expected the configuration to be refused');
}

describe('config', () => {
  it('has the contract defaults with an empty environment', () => {
    const c = loadConfig({}, '/srv/app');
    assert.equal(c.port, 4000);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.databaseUrl, null);
    assert.equal(c.spoolDir, '/srv/app/.data/spool');
    assert.equal(c.auth.kind, 'dev');
    assert.equal(c.prove, null);
    assert.equal(c.webhooks.passbaseAllowUnencrypted, false);
  });

  it('binds 0.0.0.0 in production', () => {
    const c = loadConfig(
      { NODE_ENV: 'production', AUTH_JWT_SECRET: 'x'.repeat(32), DATABASE_URL: 'postgres://db/app' },
      '/srv/app',
    );
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.production, true);
  });

  it('names PORT when it is not a port number', () => {
    assert.match(errorOf({ PORT: 'abc' }), /^PORT: /);
    assert.match(errorOf({ PORT: '70000' }), /^PORT: /);
    assert.match(errorOf({ PORT: '-1' }), /^PORT: /);
  });

  it('caches read queries for 1 s by default, 0 turning it off, and names GRAPHQL_CACHE_TTL_MS when bad', () => {
    assert.equal(loadConfig({}, '/srv/app').graphqlCacheTtlMs, 1000);
    assert.equal(loadConfig({ GRAPHQL_CACHE_TTL_MS: '0' }, '/srv/app').graphqlCacheTtlMs, 0);
    assert.equal(loadConfig({ GRAPHQL_CACHE_TTL_MS: ' 250 ' }, '/srv/app').graphqlCacheTtlMs, 250);
    for (const bad of ['-1', '1.5', 'soon', '60001']) {
      assert.match(errorOf({ GRAPHQL_CACHE_TTL_MS: bad }), /^GRAPHQL_CACHE_TTL_MS: .*0 to 60000/);
    }
  });

  it('keeps delivery records for good by default; WEBHOOK_DELIVERY_RETENTION_DAYS bounds them, named when bad', () => {
    assert.equal(loadConfig({}, '/srv/app').deliveryRetentionDays, null);
    assert.equal(loadConfig({ WEBHOOK_DELIVERY_RETENTION_DAYS: '30' }, '/srv/app').deliveryRetentionDays, 30);
    for (const bad of ['0', '-3', '7.5', 'month', '36501']) {
      assert.match(
        errorOf({ WEBHOOK_DELIVERY_RETENTION_DAYS: bad }),
        /^WEBHOOK_DELIVERY_RETENTION_DAYS: must be a whole number of days from 1 to 36500/,
      );
    }
  });

  it('names DATABASE_URL when it is malformed, without echoing it', () => {
    const msg = errorOf({ DATABASE_URL: 'not a url with secret-password' });
    assert.match(msg, /^DATABASE_URL: /);
    assert.ok(!msg.includes('secret-password'));
    assert.match(
      errorOf({ DATABASE_URL: 'mysql://u:p@h/db' }),
      /^DATABASE_URL: must use postgres or postgresql/,
    );
  });

  it('names PASSBASE_WEBHOOK_SECRET when the key is not 32 bytes', () => {
    assert.match(
      errorOf({ PASSBASE_WEBHOOK_SECRET: 'too-short' }),
      /^PASSBASE_WEBHOOK_SECRET: .*got 9 bytes/,
    );
    const ok = loadConfig({ PASSBASE_WEBHOOK_SECRET: 'k'.repeat(32) }, '/');
    assert.equal(ok.webhooks.passbaseKey?.length, 32);
    assert.equal(
      loadConfig({ PASSBASE_WEBHOOK_SECRET: 'ab'.repeat(32) }, '/').webhooks.passbaseKey?.length,
      32,
    );
  });

  it('names VOVE_WEBHOOK_SECRET when it is not whsec_<base64>', () => {
    assert.match(errorOf({ VOVE_WEBHOOK_SECRET: 'whsec_***' }), /^VOVE_WEBHOOK_SECRET: /);
  });

  it('refuses production without API auth, naming the variable', () => {
    assert.match(
      errorOf({ NODE_ENV: 'production' }),
      /^AUTH_JWT_SECRET: NODE_ENV=production requires API auth/,
    );
  });

  it('refuses both a JWT secret and a JWKS URL, and a short secret', () => {
    assert.match(
      errorOf({ AUTH_JWT_SECRET: 'x'.repeat(32), AUTH_JWKS_URL: 'https://idp.example/jwks' }),
      /^AUTH_JWT_SECRET: set either/,
    );
    assert.match(errorOf({ AUTH_JWT_SECRET: 'short' }), /^AUTH_JWT_SECRET: must be at least 32 bytes/);
    assert.match(errorOf({ AUTH_JWKS_URL: 'ftp://x' }), /^AUTH_JWKS_URL: /);
  });

  it('names PASSBASE_ALLOW_UNENCRYPTED when it is not a boolean', () => {
    assert.match(errorOf({ PASSBASE_ALLOW_UNENCRYPTED: 'yes please' }), /^PASSBASE_ALLOW_UNENCRYPTED: /);
  });

  it('requires both Prove credentials together and a known PROVE_ENV', () => {
    assert.match(errorOf({ PROVE_CLIENT_ID: 'id' }), /^PROVE_CLIENT_SECRET: /);
    assert.match(errorOf({ PROVE_CLIENT_SECRET: 's' }), /^PROVE_CLIENT_ID: /);
    assert.match(
      errorOf({ PROVE_CLIENT_ID: 'id', PROVE_CLIENT_SECRET: 's', PROVE_ENV: 'mars' }),
      /^PROVE_ENV: /,
    );
    const c = loadConfig({ PROVE_CLIENT_ID: 'id', PROVE_CLIENT_SECRET: 's' }, '/');
    assert.deepEqual(c.prove, { clientId: 'id', clientSecret: 's', env: 'uat-us' });
  });

  it('refuses a NODE_ENV other than development, production or test, by name', () => {
    assert.equal(
      errorOf({ NODE_ENV: 'prod' }),
      'NODE_ENV: must be one of development, production, test, got "prod"',
    );
    assert.equal(loadConfig({ NODE_ENV: 'test' }, '/').nodeEnv, 'test');
    assert.equal(loadConfig({}, '/').nodeEnv, 'development');
  });

  it('refuses production without DATABASE_URL: no embedded PostgreSQL in production', () => {
    assert.match(
      errorOf({ NODE_ENV: 'production', AUTH_JWT_SECRET: 'x'.repeat(32) }),
      /^DATABASE_URL: NODE_ENV=production requires DATABASE_URL/,
    );
  });

  it('treats empty values as unset', () => {
    assert.equal(loadConfig({ PORT: '', DATABASE_URL: ' ' }, '/').port, 4000);
  });
});
