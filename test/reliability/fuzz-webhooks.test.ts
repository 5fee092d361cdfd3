/**
 * Fuzzing the three webhook endpoints of a real server process (so its RSS is its own): random bytes,
 * valid deliveries mutated after signing, authentic but hostile bodies. Invariants: never a 5xx, no
 * forgery authenticates or stores an event, every stored event is one an authentic answer counted,
 * nothing internal in an answer or secret in a log, RSS flat after warm-up. Plain `npm test` sends
 * about 2,000 requests; `npm run test:reliability` over 100,000.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import pg from 'pg';
import { BODY_LIMIT } from '../../src/server.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { FULL, INTERNAL_DETAIL, rawPost, scale, vmRssBytes } from '../helpers/fuzz.js';
import { pollUntil } from '../helpers/poll.js';
import { type RunningMain, runMain } from '../helpers/process.js';
import { TEST_AUTH_SECRET } from '../helpers/server.js';
import { PASSBASE_KEY, PROVE_SECRET, VOVE_SECRET, WEBHOOK_ENV } from '../helpers/webhooks.js';
import { type BuiltRequest, FORGED, forgedPassbaseKeys, webhookRequest } from './webhook-cases.js';

/** Requests in flight at once: enough to keep the server busy on two shared cores, not to swamp them. */
const CONCURRENCY = 8;
const TOTAL = scale(2_000, 100_000);
const WARM_UP = Math.round(TOTAL / 5);
/**
 * RSS may grow 10 % after warm-up, and at least 16 MiB: V8 grows its heap in steps of a few MiB
 * and returns pages lazily, so a small process would fail on one step of GC noise alone.
 */
const RSS_FLOOR = 16 * 1024 * 1024;

interface Tally {
  requests: number;
  byStatus: Map<number, number>;
  accepted: number;
  spooled: number;
  fiveHundreds: number;
}

const tally: Tally = { requests: 0, byStatus: new Map(), accepted: 0, spooled: 0, fiveHundreds: 0 };

/** What a request may be answered, by its kind; a message when the answer breaks the rules. */
function judge(req: BuiltRequest, status: number, text: string): string | null {
  if (status >= 500) return `${status} ${text}`;
  if (INTERNAL_DETAIL.test(text)) return `internal detail in the answer: ${text}`;
  for (const secret of [PROVE_SECRET, VOVE_SECRET, PASSBASE_KEY]) {
    if (text.includes(secret)) return 'a secret in the answer';
  }
  if (req.expect === 'forged') {
    const allowed = req.endpoint === 'passbase' ? [400, 401, 413] : [401, 413];
    if (!allowed.includes(status)) return `a forgery answered ${status} ${text}`;
  }
  // An authentic Passbase plaintext that is not JSON answers 401 decryption_failed, as a padding error does.
  const authentic = req.endpoint === 'passbase' ? [200, 202, 400, 401, 413] : [200, 202, 400, 413];
  if (req.expect === 'authentic' && !authentic.includes(status)) {
    return `an authentic delivery answered ${status} ${text}`;
  }
  return null;
}

function count(status: number, text: string): void {
  tally.requests++;
  tally.byStatus.set(status, (tally.byStatus.get(status) ?? 0) + 1);
  if (status >= 500) tally.fiveHundreds++;
  if (status === 202) tally.spooled++;
  if (status === 200) tally.accepted += Number((JSON.parse(text) as { accepted: number }).accepted);
}

function describeRequest(req: BuiltRequest): string {
  const body =
    req.body.length > 300
      ? `${req.body.subarray(0, 300).toString('latin1')}… (${req.body.length} bytes)`
      : req.body.toString('latin1');
  return JSON.stringify({ endpoint: req.endpoint, expect: req.expect, headers: req.headers, body });
}

describe('fuzzing the webhook endpoints', { timeout: FULL ? 20 * 60_000 : 120_000 }, () => {
  let database: TestDatabase;
  let cwd: string;
  let server: RunningMain;
  let base: URL;
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

  before(async () => {
    database = await createTestDatabase();
    cwd = await mkdtemp(path.join(os.tmpdir(), 'idm-fuzz-'));
    server = runMain({
      cwd,
      env: {
        PORT: '0',
        HOST: '127.0.0.1',
        NODE_ENV: 'test',
        DATABASE_URL: database.url,
        SPOOL_DIR: path.join(cwd, 'spool'),
        AUTH_JWT_SECRET: TEST_AUTH_SECRET,
        LOG_LEVEL: 'info',
        ...WEBHOOK_ENV,
      },
    });
    base = new URL(String((await server.waitForLog('server listening', 60_000)).url));
  });

  after(async () => {
    agent.destroy();
    server?.child.kill('SIGTERM');
    await server?.exited;
    await rm(cwd, { recursive: true, force: true });
    await database?.drop();
  });

  /**
   * rawPost, but a body over the limit that the server refused before reading it (413 at its
   * content-length, then the connection closed) may reach us as a broken pipe while we still write it,
   * before its answer: counted as the 413 it was. Any other failure to get an answer is a failure.
   */
  async function post(url: URL, req: BuiltRequest) {
    try {
      return await rawPost(agent, url, req.body, req.headers);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (req.body.length > BODY_LIMIT && (code === 'EPIPE' || code === 'ECONNRESET')) {
        return { status: 413, text: '' };
      }
      throw err;
    }
  }

  /** Runs `runs` generated requests over CONCURRENCY parallel properties, each with its own seed. */
  async function fuzz(runs: number, seed: number): Promise<void> {
    const property = fc.asyncProperty(webhookRequest, async (make) => {
      const req = await make();
      const url = new URL(`/webhooks/${req.endpoint}`, base);
      const first = await post(url, req);
      count(first.status, first.text);
      const problem = judge(req, first.status, first.text);
      if (problem) throw new Error(`${problem}\nrequest: ${describeRequest(req)}`);
      if (req.replay) {
        const again = await post(url, req);
        count(again.status, again.text);
        if (again.status >= 500) throw new Error(`replay answered ${again.status}: ${again.text}`);
        if (first.status === 200 && again.status !== 409) {
          throw new Error(
            `a replayed token answered ${again.status} ${again.text}\nrequest: ${describeRequest(req)}`,
          );
        }
      }
    });
    const share = Math.ceil(runs / CONCURRENCY);
    await Promise.all(
      Array.from({ length: CONCURRENCY }, (_, i) =>
        fc.assert(property, { numRuns: share, seed: seed + i, endOnFailure: false, verbose: 1 }),
      ),
    );
  }

  it('answers every generated request below 500, stores no forgery, and keeps its RSS flat', async () => {
    const pid = server.child.pid as number;
    const started = Date.now();
    await fuzz(WARM_UP, 1_000);
    const warmRss = await vmRssBytes(pid);
    await fuzz(TOTAL - WARM_UP, 2_000);
    // Settle before the last look: pending rejection records, the GC of the last requests.
    await new Promise((r) => setTimeout(r, 1_000));
    const endRss = await vmRssBytes(pid);
    const seconds = (Date.now() - started) / 1000;

    const client = new pg.Client(database.url);
    await client.connect();
    try {
      // A delivery spooled (202) while PostgreSQL was slow is loaded shortly after: wait for it.
      const stored = await pollUntil(
        async () => Number((await client.query('SELECT count(*) AS n FROM identity_events')).rows[0].n),
        (n) => tally.spooled === 0 || n >= tally.accepted,
        10_000,
      );
      const forged = await client.query(
        `SELECT e.provider_event_id, i.provider_identity_id
           FROM identity_events e JOIN identities i ON i.id = e.identity_id
          WHERE e.provider_event_id LIKE $1 OR i.provider_identity_id LIKE $1
             OR i.client_customer_id LIKE $1 OR i.provider_identity_id = ANY($2)`,
        [`%${FORGED}%`, [...forgedPassbaseKeys]],
      );
      const report = {
        requests: tally.requests,
        seconds: Math.round(seconds),
        byStatus: Object.fromEntries([...tally.byStatus].sort(([a], [b]) => a - b)),
        fiveHundreds: tally.fiveHundreds,
        acceptedEvents: tally.accepted,
        storedEvents: stored,
        spooled: tally.spooled,
        forgeriesStored: forged.rowCount,
        rssWarmMiB: +(warmRss / 2 ** 20).toFixed(1),
        rssEndMiB: +(endRss / 2 ** 20).toFixed(1),
      };
      console.log(`fuzz-webhooks ${JSON.stringify(report)}`);

      assert.ok(tally.requests >= TOTAL, `${tally.requests} requests sent`);
      assert.equal(tally.fiveHundreds, 0);
      assert.deepEqual(forged.rows, [], 'no event from a forged delivery is stored');
      if (tally.spooled === 0) {
        assert.equal(
          stored,
          tally.accepted,
          'every stored event was counted accepted by an authentic answer',
        );
      } else {
        assert.ok(stored >= tally.accepted, 'spooled deliveries were loaded');
      }
      // A few hundred requests do not warm a server up (heap growth, compiled code, pools): the memory
      // bound is checked at full scale only, where warm-up is 20,000 requests.
      if (FULL) {
        const allowed = Math.max(warmRss * 0.1, RSS_FLOOR);
        assert.ok(
          endRss - warmRss <= allowed,
          `RSS grew ${((endRss - warmRss) / 2 ** 20).toFixed(1)} MiB after warm-up (allowed ${(allowed / 2 ** 20).toFixed(1)})`,
        );
      }
    } finally {
      await client.end();
    }

    // Logs for people and operators: no error logged, no secret written.
    const errors = server.stdout.filter((l) => /"level":(50|60)/.test(l));
    assert.deepEqual(errors.slice(0, 5), [], 'no error logged');
    const leaks = server.stdout.filter((l) =>
      [PROVE_SECRET, VOVE_SECRET, PASSBASE_KEY].some((s) => l.includes(s)),
    );
    assert.deepEqual(leaks.slice(0, 5), [], 'no secret in a log line');
  });
});
