import assert from 'node:assert/strict';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { signToken } from '../../src/auth/tokens.js';
import { decodeEventCursor } from '../../src/domain/cursor.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { DIST, freePort, type RunningMain, runMain, runScript } from '../helpers/process.js';
import { TEST_AUTH_SECRET } from '../helpers/server.js';
import { postPassbase, postProve, postVove, proveNotification, WEBHOOK_ENV } from '../helpers/webhooks.js';

const CLIENT = path.join(DIST, 'examples/partner-client.js');
const secret = new TextEncoder().encode(TEST_AUTH_SECRET);

/** Polls `check` every 50 ms until it holds; fails naming `what` after `timeoutMs`. */
async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Event ids in the order the client printed them (`event <id>: …`), across its runs. */
const printed = (runs: RunningMain[]) =>
  runs.flatMap((r) => r.stdout.flatMap((l) => /^event (\d+): /.exec(l)?.[1] ?? []));
const stderrOf = (r: RunningMain) => r.stderr.join('');

/**
 * Signed webhooks from the three providers, one after the other, until stopped. Some fail while the
 * server restarts; what counts is what the database stored.
 */
function postContinuously(url: string, pauseMs: number) {
  let running = true;
  const done = (async () => {
    for (let i = 0; running; i++) {
      const deliveries = [
        () =>
          postProve(url, {
            notifications: [proveNotification(), proveNotification({ eventType: 'DISCONNECT' })],
          }),
        () => postVove(url, { status: 'suspected', refId: `ref-${i}` }),
        () =>
          postPassbase(url, {
            event: 'VERIFICATION_REVIEWED',
            key: crypto.randomUUID(),
            status: 'approved',
            created: 1_700_000_000,
            updated: 1_700_000_000 + i,
            processed: 1_700_000_000 + i,
          }),
      ];
      await (deliveries[i % 3] as () => Promise<unknown>)().catch(() => {});
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
    },
  };
}

describe('examples/partner-client.ts (real server process, real client process)', () => {
  let db: TestDatabase;
  let sql: pg.Client;
  let dir: string;
  let port: number;
  let server: RunningMain;
  const running: RunningMain[] = [];

  const serverEnv = () => ({
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: db.url,
    AUTH_JWT_SECRET: TEST_AUTH_SECRET,
    LOG_LEVEL: 'info',
    GRAPHQL_CACHE_TTL_MS: '0',
    ...WEBHOOK_ENV,
  });
  async function startServer() {
    server = runMain({ cwd: dir, env: serverEnv() });
    running.push(server);
    await server.waitForLog('server listening', 60_000);
  }
  const url = () => `http://127.0.0.1:${port}`;

  /** Ids of the stored events after a cursor, in the feed's order (docs/adr/0003-event-order.md). */
  async function storedAfter(cursor: string): Promise<string[]> {
    const { txId, id } = decodeEventCursor(cursor);
    const { rows } = await sql.query<{ id: string }>(
      `SELECT id::text FROM identity_events WHERE tx_id > $1::xid8 OR (tx_id = $1::xid8 AND id > $2::bigint)
       ORDER BY tx_id, identity_events.id`, // the table's bigint id, not the text output column named id
      [txId, id],
    );
    return rows.map((r) => r.id);
  }

  /** The client as a child process; resolves once it has subscribed. */
  async function startClient(env: Record<string, string>): Promise<RunningMain> {
    const client = runScript(CLIENT, { cwd: dir, env: { IDM_URL: url(), ...env } });
    running.push(client);
    await until('the client to connect', () => stderrOf(client).includes('connected to ws://'));
    return client;
  }

  before(async () => {
    db = await createTestDatabase();
    sql = new pg.Client(db.url);
    await sql.connect();
    dir = await mkdtemp(path.join(os.tmpdir(), 'idm-partner-'));
    port = await freePort();
    await startServer();
    // One event before any client, so that a first start has a newest event to begin after.
    assert.equal((await postProve(url(), { notifications: [proveNotification()] })).status, 200);
  });
  after(async () => {
    for (const r of running) r.child.kill('SIGKILL');
    await sql.end();
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints every stored event exactly once, in order, across a server restart and its own restart', async () => {
    const cursorFile = path.join(dir, 'restarts', 'cursor');
    // The development path: a token signed with AUTH_JWT_SECRET through loadProcessConfig.
    const env = { NODE_ENV: 'development', AUTH_JWT_SECRET: TEST_AUTH_SECRET, CURSOR_FILE: cursorFile };
    const first = await startClient(env);
    assert.match(stderrOf(first), /first start: from the newest stored event on/);
    const start = (await readFile(cursorFile, 'utf8')).trim();
    let second: RunningMain | null = null;
    const poster = postContinuously(url(), 20);
    try {
      await until('events before the server restart', () => printed([first]).length >= 10);
      server.child.kill('SIGTERM');
      assert.deepEqual(await server.exited, { code: 0, signal: null });
      await startServer();
      const seen = printed([first]).length;
      await until('events after the server restart', () => printed([first]).length >= seen + 10);
      assert.match(stderrOf(first), /closed 1001 \(server shutting down\); reconnecting/);

      first.child.kill('SIGTERM');
      assert.deepEqual(await first.finished, { code: 0, signal: null }, stderrOf(first));
      const again = await startClient(env);
      second = again;
      assert.doesNotMatch(stderrOf(again), /first start/, 'resumes from its cursor file');
      await until('events after the client restart', () => printed([again]).length >= 10);
    } finally {
      await poster.stop();
    }
    const stored = await storedAfter(start);
    const runs = [first, second];
    await until(
      'the client to print every stored event',
      () => printed(runs).length >= stored.length,
      30_000,
    );
    assert.ok(stored.length > 30, `enough events to mean something: ${stored.length}`);
    assert.deepEqual(printed(runs), stored);
  });

  it('keeps receiving events after its 3-second tokens expire, reading a fresh one from IDM_TOKEN_FILE', async () => {
    const tokenFile = path.join(dir, 'token');
    const writeToken = async () => {
      const token = await signToken(secret, { scopes: ['events:subscribe', 'events:read'], expiresIn: '3s' });
      // Renamed into place, as a token renewer should: the client never reads half a token.
      await writeFile(`${tokenFile}.tmp`, token);
      await rename(`${tokenFile}.tmp`, tokenFile);
    };
    await writeToken();
    const renewer = setInterval(() => void writeToken(), 1000);
    const cursorFile = path.join(dir, 'refresh', 'cursor');
    try {
      // Production: no development secret to fall back on, the token file is all there is.
      const client = await startClient({
        NODE_ENV: 'production',
        IDM_TOKEN_FILE: tokenFile,
        CURSOR_FILE: cursorFile,
      });
      const start = (await readFile(cursorFile, 'utf8')).trim();
      const poster = postContinuously(url(), 100);
      try {
        await until('two token expiries', () => (stderrOf(client).match(/closed 4401/g) ?? []).length >= 2);
        const seen = printed([client]).length;
        await until('events after the expiries', () => printed([client]).length >= seen + 5);
      } finally {
        await poster.stop();
      }
      const stored = await storedAfter(start);
      await until('every stored event', () => printed([client]).length >= stored.length, 30_000);
      assert.deepEqual(printed([client]), stored);
      assert.doesNotMatch(stderrOf(client), /closed 4403|refused/, 'every reconnect had a valid token');
    } finally {
      clearInterval(renewer);
    }
  });

  it('stops with exit 1, saying why, when a fixed IDM_TOKEN expires (it cannot be renewed)', async () => {
    const token = await signToken(secret, { scopes: ['events:subscribe', 'events:read'], expiresIn: '2s' });
    const client = await startClient({ IDM_TOKEN: token, CURSOR_FILE: path.join(dir, 'fixed', 'cursor') });
    assert.deepEqual(await client.finished, { code: 1, signal: null });
    assert.match(stderrOf(client), /closed 4401: the token expired: set a fresh IDM_TOKEN$/m);
  });
});
