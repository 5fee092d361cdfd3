import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { withoutPassword } from '../../src/db/database.js';
import type { DevSecrets } from '../../src/dev-secrets.js';
import {
  DEV_TOKEN_LABEL,
  formatStartupSummary,
  type StartupInfo,
  startupFacts,
} from '../../src/startup-summary.js';

const DEV_SECRETS: DevSecrets = {
  authJwtSecret: 'a'.repeat(43),
  proveWebhookSecret: 'whsec_prove',
  voveWebhookSecret: `whsec_${Buffer.alloc(32, 1).toString('base64')}`,
  passbaseWebhookSecret: 'b'.repeat(64),
};
const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZXYtYWRtaW4ifQ.c2lnbmF0dXJl';

function info(env: Record<string, string>, over: Partial<StartupInfo> = {}): StartupInfo {
  return {
    url: 'http://127.0.0.1:4000',
    config: loadConfig(env, '/srv/app', { devSecrets: () => DEV_SECRETS }),
    devToken: TOKEN,
    database: { kind: 'embedded', port: 54321, dataDir: '/srv/app/.data/pg' },
    cwd: '/srv/app',
    ...over,
  };
}

describe('start-up summary', () => {
  it('tells a newcomer with nothing configured where everything is, and the next steps', () => {
    assert.equal(
      formatStartupSummary(info({})),
      `
identity-monitor is ready (development)

  URL         http://127.0.0.1:4000
  Explorer    http://127.0.0.1:4000/graphql (open it in a browser)
  Database    embedded PostgreSQL on 127.0.0.1:54321 (data in .data/pg)
  API auth    development secret (.data/dev-secrets.json)
  Enrollment  local sandbox (set PROVE_CLIENT_ID and PROVE_CLIENT_SECRET for Prove's API)
  Webhooks    prove    development secret (.data/dev-secrets.json)
              vove     development secret (.data/dev-secrets.json)
              passbase development secret (.data/dev-secrets.json)

${DEV_TOKEN_LABEL} (every scope; signed with the development secret in .data/dev-secrets.json, so it keeps working across restarts):
${TOKEN}

Use it:     curl -s http://127.0.0.1:4000/graphql -H 'authorization: Bearer <the token>' -H 'content-type: application/json' -d '{"query":"{ riskSummary { total } }"}'

Next:       \`npm run simulate\` sends signed test deliveries to the webhooks; \`npm run token -- --scopes "events:read"\` makes a token with only those scopes.

`,
    );
  });

  it('puts the token alone on the line after its label', () => {
    const lines = formatStartupSummary(info({})).split('\n');
    const label = lines.findIndex((l) => l.startsWith(DEV_TOKEN_LABEL));
    assert.equal(lines[label + 1], TOKEN);
  });

  it('names the variable each secret came from, and says which webhooks answer 503', () => {
    const text = formatStartupSummary(
      info(
        {
          NODE_ENV: 'test',
          PROVE_WEBHOOK_SECRET: 'prove-secret',
          VOVE_WEBHOOK_SECRET: DEV_SECRETS.voveWebhookSecret,
          AUTH_JWKS_URL: 'https://keys.example/.well-known/jwks.json',
          PROVE_CLIENT_ID: 'id',
          PROVE_CLIENT_SECRET: 'client-secret',
          PROVE_ENV: 'prod-us',
        },
        { devToken: null, database: { kind: 'external', url: 'postgres://app@db.internal:5432/app' } },
      ),
    );
    for (const line of [
      '  Database    DATABASE_URL postgres://app@db.internal:5432/app',
      '  API auth    AUTH_JWKS_URL (https://keys.example/.well-known/jwks.json)',
      '  Enrollment  Prove API (PROVE_ENV=prod-us)',
      '  Webhooks    prove    environment (PROVE_WEBHOOK_SECRET)',
      '              vove     environment (VOVE_WEBHOOK_SECRET)',
      '              passbase not configured: /webhooks/passbase answers 503',
    ]) {
      assert.ok(text.split('\n').includes(line), `${line}\nin\n${text}`);
    }
    assert.ok(!text.includes(DEV_TOKEN_LABEL), 'no token without dev auth');
    assert.ok(!text.includes('prove-secret') && !text.includes('client-secret'), 'no secret printed');
  });

  it("says a token signed with a test run's random secret lasts only this run", () => {
    const text = formatStartupSummary(info({ NODE_ENV: 'test' }));
    assert.ok(text.includes('  API auth    a random secret made for this run'));
    assert.ok(
      text.includes(
        `${DEV_TOKEN_LABEL} (every scope; signed with a random secret made for this run: it stops`,
      ),
    );
  });

  it('shows no explorer in production, and gives the facts as log fields without password or token', () => {
    const prod = info(
      {
        NODE_ENV: 'production',
        AUTH_JWT_SECRET: 'x'.repeat(32),
        DATABASE_URL: 'postgres://app:pw@db/app',
      },
      { devToken: null, database: { kind: 'external', url: withoutPassword('postgres://app:pw@db/app') } },
    );
    assert.ok(!formatStartupSummary(prod).includes('Explorer'));
    assert.deepEqual(startupFacts(prod), {
      url: 'http://127.0.0.1:4000',
      nodeEnv: 'production',
      database: { kind: 'external', url: 'postgres://app@db/app' },
      auth: 'env',
      webhooks: { prove: null, vove: null, passbase: null },
      enrollment: { kind: 'sandbox' },
    });
  });

  it('removes the password from a connection string, in the userinfo or a parameter', () => {
    assert.equal(
      withoutPassword('postgres://app:s3cr%40t@db.internal:6432/app?sslmode=require&password=s3cr@t'),
      'postgres://app@db.internal:6432/app?sslmode=require&password=',
    );
    assert.equal(withoutPassword('postgres://db/app'), 'postgres://db/app');
  });
});
