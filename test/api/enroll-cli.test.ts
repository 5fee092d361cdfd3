import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { signToken } from '../../src/auth/tokens.js';
import { type FakeProve, startFakeProve } from '../fixtures/fake-prove.js';
import { DIST, freePort, runScript } from '../helpers/process.js';
import { clearData } from '../helpers/seed.js';
import { startTestServer, TEST_AUTH_SECRET, type TestServer } from '../helpers/server.js';

const ENROLL = path.join(DIST, 'src/cli/enroll.js');
const HEADER = 'phoneNumber,clientCustomerId,provider,providerIdentityId';

/** A valid US number, distinct for each n below 10,000,000. */
const phone = (n: number) => `+1202${String(5_000_000 + n).padStart(7, '0')}`;

/** Runs the compiled CLI to its end; a development environment unless `env` says otherwise. */
async function enroll(args: string[], opts: { cwd: string; env?: Record<string, string> }) {
  const run = runScript(ENROLL, { cwd: opts.cwd, env: { NODE_ENV: 'development', ...opts.env }, args });
  const { code } = await run.finished;
  return { code, stdout: run.stdout.join('\n'), stderr: run.stderr.join('') };
}

/** The three counts of the summary, as printed. */
function counts(stdout: string) {
  const n = (label: string) => Number(new RegExp(`^  ${label}: +(\\d+)`, 'm').exec(stdout)?.[1]);
  return { enrolled: n('enrolled'), already: n('already enrolled'), failed: n('failed') };
}

async function readFailures(file: string): Promise<Record<string, string>[]> {
  return parse(await readFile(file, 'utf8'), { columns: true }) as Record<string, string>[];
}

describe('npm run enroll (the compiled CLI, against a real server)', () => {
  let s: TestServer;
  let dir: string;
  before(async () => {
    s = await startTestServer();
    dir = await mkdtemp(path.join(os.tmpdir(), 'idm-enroll-'));
  });
  after(async () => {
    await s.close();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => clearData(s.app.db));

  const count = async (sql: string) => Number(((await s.app.db.query(sql)) as { n: string }[])[0]?.n);
  const writerToken = () => s.token(['identities:write']);

  it('enrolls 997 of 1,000 rows in batches, reports the 3 bad rows by line and code, and a second run enrolls nothing twice', async () => {
    const lines = [HEADER];
    for (let i = 1; i <= 1000; i++) {
      const line = i + 1;
      if (line === 101)
        lines.push(`12345,cust-${i},,`); // not a phone number
      else if (line === 502)
        lines.push(`+1 416 555 0100,cust-${i},PROVE,`); // Toronto: Canadian
      else if (line === 903)
        lines.push(`${phone(i)},cust"${i},PROVE,`); // a stray quote
      else if (i % 10 === 0)
        lines.push(`,"vove, ${i}",vove,ref-${i}`); // quoted comma, lower case, no phone
      else lines.push(`${phone(i)},cust-${i},${i % 2 ? 'PROVE' : ''},`);
    }
    const input = path.join(dir, 'customers.csv');
    await writeFile(input, `${lines.join('\n')}\n`);
    const token = await writerToken();

    const first = await enroll([input, '--url', s.url, '--token', token], { cwd: dir });
    assert.equal(first.code, 1, 'some rows failed');
    assert.deepEqual(counts(first.stdout), { enrolled: 997, already: 0, failed: 3 }, first.stdout);
    assert.match(first.stdout, /Some rows failed/);
    assert.equal(await count('SELECT count(*) AS n FROM identities'), 997);
    assert.equal(await count(`SELECT count(*) AS n FROM identities WHERE provider = 'VOVE'`), 99);
    assert.equal(await count(`SELECT count(*) AS n FROM identity_events WHERE type = 'ENROLLED'`), 997);
    const vove = await s.app.db.query(
      `SELECT client_customer_id FROM identities WHERE provider_identity_id = 'ref-10'`,
    );
    assert.deepEqual(vove, [{ client_customer_id: 'vove, 10' }]);

    const failuresFile = path.join(dir, 'customers-failed.csv');
    const failures = await readFailures(failuresFile);
    assert.deepEqual(
      failures.map((f) => [f.line, f.code]),
      [
        ['101', 'INVALID_PHONE_NUMBER'],
        ['502', 'INVALID_PHONE_NUMBER'],
        ['903', 'MALFORMED_CSV'],
      ],
    );
    assert.match(failures[1]?.message ?? '', /not a US number/);
    assert.match(failures[2]?.message ?? '', /not valid CSV/);
    assert.deepEqual(
      [failures[0]?.phoneNumber, failures[0]?.clientCustomerId],
      ['12345', 'cust-100'],
      'the row as given, to fix and run again',
    );
    assert.equal((await stat(failuresFile)).mode & 0o777, 0o600, 'phone numbers: owner only');
    assert.match(first.stderr, /^line 903: MALFORMED_CSV: not valid CSV/m);

    const second = await enroll([input, '--url', s.url, '--token', token], { cwd: dir });
    assert.equal(second.code, 1, 'the same 3 rows still fail');
    assert.deepEqual(counts(second.stdout), { enrolled: 0, already: 997, failed: 3 });
    assert.equal(await count('SELECT count(*) AS n FROM identities'), 997);
    assert.equal(await count(`SELECT count(*) AS n FROM identity_events WHERE type = 'ENROLLED'`), 997);
    assert.deepEqual(
      (await readFailures(failuresFile)).map((f) => f.line),
      ['101', '502', '903'],
      'already enrolled rows are not failures',
    );
  });

  it('without --token or --url, signs a development token with AUTH_JWT_SECRET and calls PORT; exit 0 when all are enrolled', async () => {
    const cwd = await mkdtemp(path.join(dir, 'dev-'));
    const input = path.join(cwd, 'few.csv');
    await writeFile(input, `phoneNumber,clientCustomerId\n${phone(1)},dev-1\n${phone(2)},dev-2\n`);
    const env = { AUTH_JWT_SECRET: TEST_AUTH_SECRET, PORT: String(s.app.port) };
    const run = await enroll([input], { cwd, env });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(counts(run.stdout), { enrolled: 2, already: 0, failed: 0 });
    const actors = await s.app.db.query(
      `SELECT DISTINCT description FROM identity_events WHERE type = 'ENROLLED'`,
    );
    assert.deepEqual(actors, [{ description: 'enrolled by enroll-cli' }]);
    assert.deepEqual(await readFailures(path.join(cwd, 'few-failed.csv')), [], 'nothing failed');
  });

  it('writes the failed rows where --failures says, and nowhere else', async () => {
    const input = path.join(dir, 'two.csv');
    await writeFile(input, `${HEADER}\n${phone(3)},c-3,,\n${phone(4)},c-4,SOMEONE,\n`);
    const out = path.join(dir, 'elsewhere.csv');
    const run = await enroll([input, '--url', s.url, '--token', await writerToken(), '--failures', out], {
      cwd: dir,
    });
    assert.equal(run.code, 1);
    assert.deepEqual(
      (await readFailures(out)).map((f) => [f.line, f.code]),
      [['3', 'BAD_USER_INPUT']],
    );
    assert.equal(await stat(path.join(dir, 'two-failed.csv')).catch(() => null), null);
  });

  it('refuses a file without a clientCustomerId column with exit 2, naming it, and sends nothing', async () => {
    const input = path.join(dir, 'no-customer.csv');
    await writeFile(input, `phoneNumber,provider\n${phone(5)},PROVE\n`);
    const run = await enroll([input, '--url', s.url, '--token', await writerToken()], { cwd: dir });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /line 1: the header has no clientCustomerId column/);
    assert.equal(await count('SELECT count(*) AS n FROM identities'), 0);
    const flag = await enroll([input, '--tokn', 'x'], { cwd: dir });
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /Unknown option '--tokn'/);
  });

  it('stops with one clear line and exit 1 when the token is refused or the server cannot be reached', async () => {
    const input = path.join(dir, 'one.csv');
    await writeFile(input, `${HEADER}\n${phone(6)},c-6,,\n`);
    const foreign = await signToken(new TextEncoder().encode('another-secret-0123456789abcdef0123456789'));
    const readOnly = await s.token(['identities:read']);
    const down = `http://127.0.0.1:${await freePort()}`;
    const cases: [string, string, RegExp][] = [
      [
        s.url,
        foreign,
        /^enroll: the server refused the token \(HTTP 401: invalid bearer token: token signature is invalid\)$/,
      ],
      [
        s.url,
        readOnly,
        /^enroll: the token is not allowed to enroll \(FORBIDDEN: this operation needs the identities:write scope\)$/,
      ],
      [down, await writerToken(), /^enroll: cannot reach http:\/\/127\.0\.0\.1:\d+\/graphql: ECONNREFUSED$/],
    ];
    for (const [url, token, expected] of cases) {
      const run = await enroll([input, '--url', url, '--token', token], { cwd: dir });
      assert.equal(run.code, 1);
      assert.match(run.stderr.trim(), expected);
      assert.doesNotMatch(run.stderr, new RegExp(token.split('.')[2] ?? 'x'), 'the token is never printed');
    }
    assert.equal(await count('SELECT count(*) AS n FROM identities'), 0);
  });

  it('fails only the rows of a batch refused whole (an HTTP 502) and goes on with the next', async () => {
    // A front on loopback answering the second call with a proxy's error page, the others from the server.
    let calls = 0;
    const front: Server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      if (++calls === 2) {
        res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad Gateway</h1>');
        return;
      }
      const upstream = await fetch(`${s.url}${req.url}`, {
        method: req.method ?? 'POST',
        headers: { 'content-type': 'application/json', authorization: String(req.headers.authorization) },
        body: Buffer.concat(chunks),
      });
      res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(await upstream.text());
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
      const input = path.join(dir, 'three-batches.csv');
      const rows = Array.from({ length: 250 }, (_, i) => `${phone(100 + i)},b-${i},,`);
      await writeFile(input, `${HEADER}\n${rows.join('\n')}\n`);
      const token = await writerToken();
      const run = await enroll([input, '--url', url, '--token', token], { cwd: dir });
      assert.equal(run.code, 1);
      assert.deepEqual(counts(run.stdout), { enrolled: 150, already: 0, failed: 100 });
      const failures = await readFailures(path.join(dir, 'three-batches-failed.csv'));
      assert.deepEqual(
        [failures.length, failures[0]?.line, failures.at(-1)?.line, new Set(failures.map((f) => f.code))],
        [100, '102', '201', new Set(['HTTP_502'])],
      );
      const again = await enroll([input, '--url', s.url, '--token', token], { cwd: dir });
      assert.equal(again.code, 0);
      assert.deepEqual(counts(again.stdout), { enrolled: 100, already: 150, failed: 0 });
    } finally {
      await new Promise<void>((resolve) => front.close(() => resolve()));
    }
  });
});

describe('npm run enroll with Prove failing a batch', () => {
  let fake: FakeProve;
  let s: TestServer;
  let dir: string;
  before(async () => {
    fake = await startFakeProve();
    s = await startTestServer({
      env: { PROVE_CLIENT_ID: fake.clientId, PROVE_CLIENT_SECRET: fake.clientSecret, PROVE_ENV: fake.url },
    });
    dir = await mkdtemp(path.join(os.tmpdir(), 'idm-enroll-prove-'));
  });
  after(async () => {
    await s.close();
    await fake.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("gives the batch's rows Prove's PROVIDER_UNAVAILABLE, enrolls the next batch, and a rerun enrolls the rest", async () => {
    const input = path.join(dir, 'customers.csv');
    const rows = Array.from({ length: 150 }, (_, i) => `${phone(i)},p-${i}`);
    await writeFile(input, `phoneNumber,clientCustomerId\n${rows.join('\n')}\n`);
    const token = await s.token(['identities:write']);
    fake.failNext(1, 500);
    const run = await enroll([input, '--url', s.url, '--token', token], { cwd: dir });
    assert.equal(run.code, 1);
    assert.deepEqual(counts(run.stdout), { enrolled: 50, already: 0, failed: 100 });
    const failures = await readFailures(path.join(dir, 'customers-failed.csv'));
    assert.deepEqual(
      [failures.length, new Set(failures.map((f) => f.code))],
      [100, new Set(['PROVIDER_UNAVAILABLE'])],
    );
    const again = await enroll([input, '--url', s.url, '--token', token], { cwd: dir });
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(counts(again.stdout), { enrolled: 100, already: 50, failed: 0 });
    assert.equal(fake.identities.size, 150, 'Prove enrolled each customer once');
  });
});
