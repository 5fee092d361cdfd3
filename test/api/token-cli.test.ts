import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { SCOPES } from '../../src/auth/scopes.js';
import { createTestDatabase } from '../helpers/db.js';
import { runCli, runMain } from '../helpers/process.js';
import { startTestServer, TEST_AUTH_SECRET, type TestServer } from '../helpers/server.js';

const JWT_LINE = /^[\w-]+\.[\w-]+\.[\w-]+\n$/;
const RISK = '{ riskSummary { total } }';
const EVENTS = '{ events(first: 1) { edges { node { id } } } }';

// Concurrent: the expiry test waits out the server's 30 s clock tolerance while the others run.
describe('npm run token: the compiled CLI, its token used on a real server', { concurrency: true }, () => {
  let s: TestServer;
  let cwd = '';
  const token = (args: string[], env: Record<string, string> = {}) =>
    runCli('token', args, {
      cwd,
      env: { NODE_ENV: 'development', AUTH_JWT_SECRET: TEST_AUTH_SECRET, ...env },
    });
  /** Runs the CLI, expects success, returns the token. */
  const tokenOk = async (args: string[], env: Record<string, string> = {}) => {
    const run = await token(args, env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, JWT_LINE, 'stdout is the token alone');
    return run.stdout.trim();
  };

  before(async () => {
    s = await startTestServer();
    cwd = await mkdtemp(path.join(os.tmpdir(), 'idm-token-'));
  });
  after(async () => {
    await s.close();
    await rm(cwd, { recursive: true, force: true });
  });

  it('prints a token the server accepts with exactly the scopes asked: identities:read allowed, events:read FORBIDDEN', async () => {
    const jwt = await tokenOk(['--scopes', 'identities:read']);
    const claims = decodeJwt(jwt);
    assert.equal(claims.scope, 'identities:read');
    assert.equal(claims.sub, 'cli');
    assert.equal(Number(claims.exp) - Number(claims.iat), 3600, 'an hour by default');
    const allowed = await s.gql<{ riskSummary: { total: number } }>(RISK, {}, { token: jwt });
    assert.deepEqual([allowed.status, allowed.body.errors], [200, undefined]);
    assert.equal(typeof allowed.body.data?.riskSummary.total, 'number');
    const denied = await s.gql(EVENTS, {}, { token: jwt });
    assert.equal(denied.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
    assert.match(denied.body.errors?.[0]?.message ?? '', /events:read/);
  });

  it('signs all scopes, comma or space lists, --sub and --expires (jose time spans) as asked', async () => {
    assert.equal(decodeJwt(await tokenOk(['--scopes', 'all'])).scope, SCOPES.join(' '));
    const listed = decodeJwt(
      await tokenOk([
        '--scopes',
        'events:read,events:subscribe  pii:read',
        '--sub',
        'ops-team',
        '--expires',
        '30d',
      ]),
    );
    assert.equal(listed.scope, 'events:read events:subscribe pii:read');
    assert.equal(listed.sub, 'ops-team');
    assert.equal(Number(listed.exp) - Number(listed.iat), 30 * 86_400);
    const ninety = decodeJwt(await tokenOk(['--scopes', 'events:read', '--expires', '90m']));
    assert.equal(Number(ninety.exp) - Number(ninety.iat), 5400);
    const events = await s.gql(EVENTS, {}, { token: await tokenOk(['--scopes', 'all', '--expires', '1w']) });
    assert.equal(events.body.errors, undefined);
  });

  it('a --expires 1s token is accepted at once and refused as expired once past the 30 s skew the server allows', async () => {
    const jwt = await tokenOk(['--scopes', 'identities:read', '--expires', '1s']);
    const exp = Number(decodeJwt(jwt).exp);
    assert.equal(exp - Number(decodeJwt(jwt).iat), 1);
    assert.equal((await s.gql(RISK, {}, { token: jwt })).body.errors, undefined);
    // src/auth/tokens.ts verifies with clockTolerance: 30, so "expired" means 30 s after exp.
    await new Promise((r) => setTimeout(r, Math.max(0, (exp + 31) * 1000 - Date.now())));
    const res = await s.gql(RISK, {}, { token: jwt });
    assert.equal(res.status, 401);
    assert.equal(res.body.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
    assert.match(res.body.errors?.[0]?.message ?? '', /expired/);
  });

  it('sets iss and aud from AUTH_ISSUER and AUTH_AUDIENCE, which a server requiring them accepts', async () => {
    const strictEnv = { AUTH_ISSUER: 'https://issuer.test/', AUTH_AUDIENCE: 'identity-monitor' };
    const strict = await startTestServer({ env: strictEnv });
    try {
      const jwt = await tokenOk(['--scopes', 'identities:read'], strictEnv);
      assert.deepEqual(
        [decodeJwt(jwt).iss, decodeJwt(jwt).aud],
        ['https://issuer.test/', 'identity-monitor'],
      );
      assert.equal((await strict.gql(RISK, {}, { token: jwt })).body.errors, undefined);
      const plain = await tokenOk(['--scopes', 'identities:read']);
      assert.equal((await strict.gql(RISK, {}, { token: plain })).status, 401, 'without them it is refused');
    } finally {
      await strict.close();
    }
  });

  it('refuses bad flags with exit 2, one line naming the flag or scope, nothing on stdout', async () => {
    const valid = SCOPES.join(', ');
    const cases: [string[], string][] = [
      [
        ['--scopes', 'identities:read events:write'],
        `token: --scopes: unknown scope "events:write"; the scopes are ${valid}, or all\n`,
      ],
      [[], `token: --scopes is required: one or more of ${valid}, or all\n`],
      [['--scopes', ' '], `token: --scopes is required: one or more of ${valid}, or all\n`],
      [
        ['--scopes', 'all', '--expires', 'soon'],
        'token: --expires must be a lifetime from 1s to 30d such as 90m, 1h or 7d, got "soon"\n',
      ],
      [
        ['--scopes', 'all', '--expires', '0m'],
        'token: --expires must be a lifetime from 1s to 30d such as 90m, 1h or 7d, got "0m"\n',
      ],
      [
        ['--scopes', 'all', '--expires', '31d'],
        'token: --expires must be a lifetime from 1s to 30d such as 90m, 1h or 7d, got "31d"\n',
      ],
      [['--scopes', 'all', '--expires'], 'token: --expires needs a value\n'],
      [['--scopes', 'all', '--sub', ''], 'token: --sub must be 1 to 200 printable characters\n'],
      [
        ['--scope', 'all'],
        'token: unknown flag --scope (the flags are --scopes, --expires, --sub, --help)\n',
      ],
    ];
    const runs = await Promise.all(cases.map(([args]) => token(args)));
    runs.forEach((run, i) => {
      assert.deepEqual([run.code, run.stderr, run.stdout], [2, cases[i]![1], ''], cases[i]![0].join(' '));
    });
  });

  it('refuses by name when auth is JWKS-only: tokens then come from the identity provider', async () => {
    const run = await token(['--scopes', 'all'], {
      AUTH_JWT_SECRET: '',
      AUTH_JWKS_URL: 'https://idp.example/jwks',
    });
    assert.deepEqual(
      [run.code, run.stdout, run.stderr],
      [
        2,
        '',
        'token: AUTH_JWKS_URL is set: tokens come from your identity provider; npm run token signs only with AUTH_JWT_SECRET or the development secret\n',
      ],
    );
  });

  it('refuses under NODE_ENV=test without AUTH_JWT_SECRET: that server signs with a random secret', async () => {
    const run = await token(['--scopes', 'all'], { NODE_ENV: 'test', AUTH_JWT_SECRET: '' });
    assert.equal(run.code, 2);
    assert.equal(run.stdout, '');
    assert.match(
      run.stderr,
      /^token: no AUTH_JWT_SECRET and NODE_ENV=test: .*random secret.*; set AUTH_JWT_SECRET/,
    );
  });
});

describe('development with nothing configured: token, server and simulator share .data/dev-secrets.json', () => {
  it('token makes the file (0600), a server started from the same directory accepts the token and the simulated webhooks', async () => {
    const cwd = await mkdtemp(path.join(os.tmpdir(), 'idm-dev-tools-'));
    const db = await createTestDatabase();
    const main = runMain({ cwd, env: { NODE_ENV: 'development', PORT: '0', DATABASE_URL: db.url } });
    try {
      const made = await runCli('token', ['--scopes', 'identities:read'], {
        cwd,
        env: { NODE_ENV: 'development' },
      });
      assert.equal(made.code, 0, made.stderr);
      const file = await stat(path.join(cwd, '.data', 'dev-secrets.json'));
      assert.equal(file.mode & 0o777, 0o600);

      const url = String((await main.waitForLog('server listening', 60_000)).url);
      const res = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${made.stdout.trim()}` },
        body: JSON.stringify({ query: RISK }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(((await res.json()) as { errors?: unknown }).errors, undefined);

      const simulated = await runCli('simulate', ['--count', '9', '--url', url], {
        cwd,
        env: { NODE_ENV: 'development' },
      });
      assert.equal(simulated.code, 0, simulated.stdout + simulated.stderr);
      assert.match(simulated.stdout, /^ {2}by status {3}200: 9$/m);
    } finally {
      main.child.kill('SIGTERM');
      await main.exited;
      await db.drop();
      await rm(cwd, { recursive: true, force: true });
    }
  });
});
