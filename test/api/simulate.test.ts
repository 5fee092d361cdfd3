import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { batchEnroll } from '../helpers/enrollment.js';
import { runCli } from '../helpers/process.js';
import { startTestServer, TEST_AUTH_SECRET, type TestServer } from '../helpers/server.js';
import { subscribe } from '../helpers/subscriber.js';
import { WEBHOOK_ENV } from '../helpers/webhooks.js';

/** The summary's "by status" line as a map, e.g. { '200': 58, '202': 2 }. */
function statuses(stdout: string): Record<string, number> {
  const line = /^ {2}by status {3}(.*)$/m.exec(stdout)?.[1] ?? '';
  return Object.fromEntries(
    line.split(', ').map((part) => [part.split(': ')[0], Number(part.split(': ')[1])]),
  );
}

/** A loopback port the OS just handed out and that nothing listens on any more. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('npm run simulate: the compiled CLI against a real server', () => {
  let s: TestServer;
  let cwd = '';
  /** The child's whole environment: development, the server's secrets, nothing else of ours. */
  const env = (over: Record<string, string> = {}) => ({
    NODE_ENV: 'development',
    AUTH_JWT_SECRET: TEST_AUTH_SECRET,
    ...WEBHOOK_ENV,
    ...over,
  });
  const simulate = (args: string[], over: Record<string, string> = {}) =>
    runCli('simulate', args.includes('--url') ? args : [...args, '--url', s.url], { cwd, env: env(over) });
  const count = async (sql: string, params: unknown[] = []) =>
    Number((await s.app.db.query(sql, params))[0].n);

  before(async () => {
    s = await startTestServer({ env: WEBHOOK_ENV });
    cwd = await mkdtemp(path.join(os.tmpdir(), 'idm-simulate-'));
  });
  after(async () => {
    await s.close();
    await rm(cwd, { recursive: true, force: true });
  });

  it('sends every provider realistic deliveries, new and enrolled identities alike; all are stored and seen live', async () => {
    const enrolled = await batchEnroll(s.gql, [
      { provider: 'PROVE', phoneNumber: '2025550141' },
      { provider: 'PROVE', phoneNumber: '2025550142' },
      { provider: 'VOVE', providerIdentityId: `vove-${randomUUID()}` },
      { provider: 'VOVE', providerIdentityId: `vove-${randomUUID()}` },
      { provider: 'PASSBASE', providerIdentityId: randomUUID() },
      { provider: 'PASSBASE', providerIdentityId: randomUUID() },
    ]);
    const ids = enrolled.body.data?.batchEnrollIdentities.results.map((r) => r.identity?.id ?? '') ?? [];
    assert.equal(ids.filter(Boolean).length, 6, JSON.stringify(enrolled.body));
    const live = await subscribe(s.url, await s.token(['events:subscribe']));
    try {
      const run = await simulate(['--count', '60']);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stdout, /^Sent 60 deliveries to /);
      assert.match(
        run.stdout,
        /and 6 already enrolled \(of 6 listed\)/,
        'the six enrolled identities were each sent events',
      );
      assert.match(run.stdout, /All deliveries accepted\./);
      const byStatus = statuses(run.stdout);
      assert.ok(
        Object.keys(byStatus).every((st) => st === '200' || st === '202'),
        `only 2xx: ${JSON.stringify(byStatus)}`,
      );
      assert.equal(
        Object.values(byStatus).reduce((a, b) => a + b, 0),
        60,
      );
      for (const provider of ['prove', 'vove', 'passbase']) {
        assert.match(
          run.stdout,
          new RegExp(`^ {2}${provider} +20 sent; `, 'm'),
          'the count is shared evenly',
        );
      }

      const [sent = -1, stored = -1] = (/: (\d+) events \((\d+) stored\)/.exec(run.stdout) ?? [])
        .slice(1)
        .map(Number);
      assert.equal(sent, stored, 'no event was a duplicate');
      const webhookEvents = "SELECT count(*) AS n FROM identity_events WHERE type <> 'ENROLLED'";
      assert.equal(await count(webhookEvents), stored, 'every event the summary counts is in the database');
      assert.equal(
        await count("SELECT count(*) AS n FROM webhook_deliveries WHERE outcome = 'accepted'"),
        60,
      );
      const perProvider = `${webhookEvents} AND provider = $1`;
      assert.equal(await count(perProvider, ['VOVE']), 20);
      assert.equal(await count(perProvider, ['PASSBASE']), 20);
      assert.ok((await count(perProvider, ['PROVE'])) >= 20, 'a Prove delivery carries 1 to 3 notifications');

      // Each already enrolled identity got events, and every identity's risk moved as the policy says.
      for (const id of ids) {
        assert.ok(
          (await count(`${webhookEvents} AND identity_id = $1`, [id])) > 0,
          `enrolled ${id} got events`,
        );
      }
      const withEvents = (provider: string, allowed: string[]) =>
        count(
          `SELECT count(*) AS n FROM identities i WHERE provider = $1 AND NOT (risk_level = ANY($2))
             AND EXISTS (SELECT 1 FROM identity_events e WHERE e.identity_id = i.id AND e.type <> 'ENROLLED')`,
          [provider, allowed],
        );
      assert.equal(await withEvents('PROVE', ['MEDIUM', 'HIGH']), 0, 'a Prove change raises risk');
      assert.equal(await withEvents('PASSBASE', ['LOW', 'HIGH']), 0, 'every Passbase story ends reviewed');
      const levels = await s.app.db.query('SELECT DISTINCT risk_level FROM identities');
      assert.ok(levels.length >= 3, `risk levels vary: ${JSON.stringify(levels)}`);
      const rawTypes = (await s.app.db.query('SELECT DISTINCT raw_type FROM identity_events')).map(
        (r: { raw_type: string }) => r.raw_type,
      );
      for (const t of ['VERIFICATION_COMPLETED', 'VERIFICATION_REVIEWED', 'in_progress', 'pending']) {
        assert.ok(rawTypes.includes(t), `${t} among ${rawTypes.join(', ')}`);
      }

      await live.waitFor(stored, 15_000);
      assert.equal(live.events.length, stored, 'the live feed saw each event once');
      assert.equal(existsSync(path.join(cwd, '.data')), false, 'secrets came from the environment');
    } finally {
      await live.dispose();
    }
  });

  it('--rate paces the deliveries: 10 at 20 a second take at least 0.45 s', async () => {
    const started = Date.now();
    const run = await simulate(['--provider', 'vove', '--count', '10', '--rate', '20']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.ok(Date.now() - started >= 450, `took ${Date.now() - started} ms`);
    assert.match(run.stdout, /^Sent 10 deliveries to .* in (0\.[5-9]|[1-9]\d*\.\d) s/);
    assert.deepEqual(statuses(run.stdout), { '200': 10 });
  });

  it('refused deliveries (a server with other secrets) exit 1 with the 401s counted and their bodies shown', async () => {
    const before = await count('SELECT count(*) AS n FROM identity_events');
    const wrong = {
      PROVE_WEBHOOK_SECRET: 'whsec_not-the-server-secret-0123456789',
      VOVE_WEBHOOK_SECRET: `whsec_${Buffer.from('not-the-server-vove-secret-0123').toString('base64')}`,
      PASSBASE_WEBHOOK_SECRET: 'not-the-server-passbase-key-0123',
    };
    const run = await simulate(['--count', '6'], wrong);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.deepEqual(statuses(run.stdout), { '401': 6 });
    assert.match(run.stdout, /6 of 6 deliveries refused; the first 5:/);
    assert.match(run.stdout, /^ {2}prove 401: \{"error":"invalid_signature"/m);
    assert.match(run.stdout, /^ {2}vove 401: \{"error":"invalid_signature"/m);
    assert.match(run.stdout, /^ {2}passbase 401: \{"error":"decryption_failed"/m);
    for (const secret of [...Object.values(wrong), ...Object.values(WEBHOOK_ENV), TEST_AUTH_SECRET]) {
      assert.ok(!(run.stdout + run.stderr).includes(secret), 'no secret is printed');
    }
    assert.equal(await count('SELECT count(*) AS n FROM identity_events'), before, 'nothing stored');
  });

  it('a server that does not answer: exit 1, network errors counted or the listing request named, a hint to start it', async () => {
    const nowhere = `http://127.0.0.1:${await closedPort()}`;
    const run = await runCli('simulate', ['--provider', 'vove', '--count', '3', '--url', nowhere], {
      cwd,
      env: env({ AUTH_JWKS_URL: 'http://127.0.0.1:9/jwks', AUTH_JWT_SECRET: '' }),
    });
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.deepEqual(statuses(run.stdout), { 'network error': 3 });
    assert.match(run.stdout, /^ {2}vove network error: ECONNREFUSED$/m);
    assert.match(
      run.stdout,
      /note: AUTH_JWKS_URL is set, so no API token can be signed here: new identities only/,
    );
    assert.ok(run.stdout.includes(`no answer from ${nowhere} at all: is the server running`));
    // With a token to list enrolled identities, that first request finds the server missing and says so.
    const listing = await runCli('simulate', ['--url', nowhere], { cwd, env: env() });
    assert.deepEqual([listing.code, listing.stdout], [1, '']);
    assert.equal(
      listing.stderr,
      `simulate: cannot reach ${nowhere}/graphql (ECONNREFUSED): is the server running?\n`,
    );
  });

  it('bad flags exit 2 with one line naming the flag, and send nothing', async () => {
    const before = await count('SELECT count(*) AS n FROM webhook_deliveries');
    const cases: [string[], RegExp][] = [
      [['--count', '0'], /^simulate: --count must be a whole number from 1 to 100000, got "0"\n$/],
      [['--count', '12abc'], /^simulate: --count must be a whole number/],
      [
        ['--count'],
        /^simulate: --count needs a value \(one beginning with "-" is written --count=<value>\)\n$/,
      ],
      [['--provider', 'sms'], /^simulate: --provider must be prove, vove, passbase or all, got "sms"\n$/],
      [['--rate', 'fast'], /^simulate: --rate must be a number of deliveries a second above 0/],
      [['--rate=0'], /^simulate: --rate must be a number/],
      [['--url', 'ftp://127.0.0.1'], /^simulate: --url must be an http:\/\/ or https:\/\/ URL, got ftp\n$/],
      [
        ['--bogus'],
        /^simulate: unknown flag --bogus \(the flags are --provider, --count, --url, --rate, --help\)\n$/,
      ],
      [['prove'], /^simulate: unexpected argument "prove"/],
    ];
    const runs = await Promise.all(cases.map(([args]) => simulate(args)));
    runs.forEach((run, i) => {
      assert.equal(run.code, 2, `${cases[i]?.[0].join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, cases[i]![1]);
      assert.equal(run.stdout, '');
    });
    assert.equal(await count('SELECT count(*) AS n FROM webhook_deliveries'), before, 'nothing was sent');
  });

  it('a provider without a secret (no development secrets) exits 2 naming its variable', async () => {
    const run = await runCli('simulate', ['--url', s.url], {
      cwd,
      env: { NODE_ENV: 'test', PROVE_WEBHOOK_SECRET: WEBHOOK_ENV.PROVE_WEBHOOK_SECRET },
    });
    assert.equal(run.code, 2, run.stderr);
    assert.match(
      run.stderr,
      /^simulate: VOVE_WEBHOOK_SECRET, PASSBASE_WEBHOOK_SECRET are not set, so vove and passbase deliveries cannot be signed: .*, or choose --provider prove\n$/,
    );
    assert.ok(!run.stderr.includes(WEBHOOK_ENV.PROVE_WEBHOOK_SECRET));
  });
});
