/**
 * Replays that cannot starve webhook commits (src/events/replay-pacer.ts). Raw graphql-transport-ws
 * sockets (test/helpers/raw-ws.ts): the storm's hundreds of thousands of messages are counted, not parsed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { signToken } from '../../src/auth/tokens.js';
import { encodeEventCursor } from '../../src/domain/cursor.js';
import { openTestDataSource, type TestDataSource } from '../helpers/db.js';
import { type RunningMain, runMain } from '../helpers/process.js';
import { seedEvents, seedIdentity } from '../helpers/seed.js';
import { TEST_AUTH_SECRET } from '../helpers/server.js';
import { postProve, proveNotification, WEBHOOK_ENV } from '../helpers/webhooks.js';

/** The storm's client process (test/fixtures/ws-storm.ts). */
const STORM = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/ws-storm.js');
/** Events every subscription of the storm replays. */
const STORM_EVENTS = 2000;

const tokenFor = (subject: string) =>
  signToken(new TextEncoder().encode(TEST_AUTH_SECRET), { subject, scopes: ['events:subscribe'] });

/** A test that hangs (a refusal that never comes) fails instead. */
const TIMEOUT = { timeout: 60_000 };

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The server in a process of its own, as deployed: in this one, the test's clients reading hundreds of
 * thousands of messages (and node:test's async hooks on every promise) would slow the server down too.
 */
describe('a replay storm', () => {
  let cwd: string;
  let data: TestDataSource;
  let server: RunningMain;
  let url: string;
  before(async () => {
    cwd = await mkdtemp(path.join(os.tmpdir(), 'idm-ws-storm-'));
    data = await openTestDataSource();
    const identityId = await seedIdentity(data.ds);
    await seedEvents(
      data.ds,
      Array.from({ length: STORM_EVENTS }, () => ({ identityId })),
    );
    server = runMain({
      cwd,
      env: {
        ...WEBHOOK_ENV,
        PORT: '0',
        DATABASE_URL: data.db.url,
        AUTH_JWT_SECRET: TEST_AUTH_SECRET,
        LOG_LEVEL: 'info',
      },
    });
    url = String((await server.waitForLog('server listening')).url);
  });
  after(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    await data.close();
    await rm(cwd, { recursive: true, force: true });
  });

  it(
    `commits a signed webhook (200) within 2 s while 200 subscriptions replay ${STORM_EVENTS} events from cursor 0`,
    TIMEOUT,
    async () => {
      const after = encodeEventCursor({ txId: '0', id: '0' });
      const storm = spawn(process.execPath, [STORM, url, await tokenFor('replayer'), '2', '100', after], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let received = 0;
      let acked = false;
      createInterface({ input: storm.stdout }).on('line', (line) => {
        if (line === 'acked') acked = true;
        else if (line.startsWith('received ')) received = Number(line.slice('received '.length));
      });
      try {
        await until('the replays to be under way', () => acked && received >= 2000, 30_000);
        const started = Date.now();
        const res = await postProve(url, { notifications: [proveNotification()] });
        const took = Date.now() - started;
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.ok(took < 2000, `the webhook took ${took} ms`);
        assert.ok(received < 200 * STORM_EVENTS, 'the storm was still going when the webhook was answered');
      } finally {
        storm.kill();
      }
    },
  );
});
