/**
 * WebSocket limits (src/graphql/ws-limits.ts): subscriptions per socket, sockets per token subject and
 * per replica; and replays that cannot starve webhook commits (src/feed/replay-pacer.ts). Raw
 * graphql-transport-ws sockets (test/helpers/raw-ws.ts): a storm's messages are counted, not parsed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
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
import { openSocket, type RawSocket } from '../helpers/raw-ws.js';
import { seedEvents, seedIdentity } from '../helpers/seed.js';
import { startTestServer, TEST_AUTH_SECRET, type TestServer } from '../helpers/server.js';
import { postProve, proveNotification, WEBHOOK_ENV } from '../helpers/webhooks.js';

/** The storm's client process (test/fixtures/ws-storm.ts). */
const STORM = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/ws-storm.js');
/** Events every subscription of the storm replays. */
const STORM_EVENTS = 2000;
const LIVE = 'subscription { identityEvents { id } }';

const tokenFor = (subject: string) =>
  signToken(new TextEncoder().encode(TEST_AUTH_SECRET), { subject, scopes: ['events:subscribe'] });

/** A test that hangs (a refusal that never comes) fails instead. */
const TIMEOUT = { timeout: 60_000 };

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('WebSocket limits', () => {
  let s: TestServer;
  const sockets: RawSocket[] = [];
  const open = (token: string) => {
    const socket = openSocket(s.url, token);
    sockets.push(socket);
    return socket;
  };
  before(async () => {
    s = await startTestServer({ env: WEBHOOK_ENV });
  });
  after(async () => {
    for (const socket of sockets) socket.ws.terminate();
    await s.close();
  });

  it(
    'refuses the 101st subscription on one socket with TOO_MANY_SUBSCRIPTIONS, the socket and its 100 kept',
    TIMEOUT,
    async () => {
      const socket = open(await tokenFor('many-subscriptions'));
      assert.equal(await socket.acked, true);
      for (let i = 1; i <= 100; i++) socket.subscribe(String(i), LIVE);
      const refused = socket.endOf('101');
      socket.subscribe('101', LIVE);
      assert.deepEqual(await refused, {
        id: '101',
        type: 'error',
        payload: [
          {
            message: 'too many subscriptions on this connection (limit 100)',
            extensions: { code: 'TOO_MANY_SUBSCRIPTIONS' },
          },
        ],
      });
      // The socket is open and its 100 subscriptions live: one event reaches each of them.
      assert.equal((await postProve(s.url, { notifications: [proveNotification()] })).status, 200);
      await until('an event on each of the 100 subscriptions', () => socket.nexts() === 100);
      // One ends: its place is free again.
      socket.ws.send(JSON.stringify({ id: '1', type: 'complete' }));
      await new Promise((r) => setTimeout(r, 200));
      const answer102 = socket.endOf('102').catch(() => null);
      socket.subscribe('102', LIVE);
      // A refusal comes at once; its start position is read meanwhile.
      const sleep = new Promise<null>((r) => setTimeout(() => r(null), 500));
      assert.equal(await Promise.race([answer102, sleep]), null, 'the 101st place, freed, is taken');
      assert.equal((await postProve(s.url, { notifications: [proveNotification()] })).status, 200);
      await until('the event on the new subscription too', () => socket.nexts() >= 200);
      socket.ws.close();
    },
  );

  it(
    'lets a completed subscription go at once, so completing and subscribing again never piles up subscriptions',
    TIMEOUT,
    async () => {
      const gauge = async () => {
        const text = await (await fetch(`${s.url}/metrics`)).text();
        return Number(/^feed_subscriptions (\d+)$/m.exec(text)?.[1]);
      };
      await until("the earlier tests' subscriptions to be gone", async () => (await gauge()) === 0);
      const socket = open(await tokenFor('subscribe-complete'));
      assert.equal(await socket.acked, true);
      // A filter no event matches: nothing arrives that would end a subscription on its own.
      const query = `subscription { identityEvents(filter: { identityId: "${randomUUID()}" }) { id } }`;
      for (let round = 0; round < 3; round++) {
        for (let i = 1; i <= 100; i++) socket.subscribe(`${round}-${i}`, query);
        await until('100 subscriptions in the feed', async () => (await gauge()) === 100);
        for (let i = 1; i <= 100; i++)
          socket.ws.send(JSON.stringify({ id: `${round}-${i}`, type: 'complete' }));
        await until('every completed subscription out of the feed', async () => (await gauge()) === 0);
      }
      socket.ws.close();
    },
  );

  it(
    'closes a socket beyond 20 per token subject with 4029 at connection_init, and admits one once another closes',
    TIMEOUT,
    async () => {
      const mine = await Promise.all(
        Array.from({ length: 20 }, async () => open(await tokenFor('partner-a'))),
      );
      assert.deepEqual(await Promise.all(mine.map((x) => x.acked)), Array(20).fill(true));
      // Another token (other scopes) of the same subject counts the same.
      const other = await signToken(new TextEncoder().encode(TEST_AUTH_SECRET), {
        subject: 'partner-a',
        scopes: ['events:subscribe', 'events:read'],
      });
      const extra = open(other);
      assert.equal(await extra.acked, false);
      assert.deepEqual(await extra.closed, {
        code: 4029,
        reason: 'too many connections for this token subject (limit 20)',
      });
      assert.equal(await open(await tokenFor('partner-b')).acked, true, 'another subject is not affected');
      mine[0]?.ws.close();
      await mine[0]?.closed;
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(await open(await tokenFor('partner-a')).acked, true);
      for (const x of sockets) x.ws.close();
    },
  );
});

describe('WebSocket limits: sockets per replica', () => {
  it('closes a socket beyond the replica limit with 4029, whatever its subject', TIMEOUT, async () => {
    const s = await startTestServer({ wsLimits: { connectionsPerReplica: 3 } });
    const sockets: RawSocket[] = [];
    try {
      for (const subject of ['a', 'b', 'c']) sockets.push(openSocket(s.url, await tokenFor(subject)));
      assert.deepEqual(await Promise.all(sockets.map((x) => x.acked)), [true, true, true]);
      const fourth = openSocket(s.url, await tokenFor('d'));
      sockets.push(fourth);
      assert.equal(await fourth.acked, false);
      assert.deepEqual(await fourth.closed, {
        code: 4029,
        reason: 'too many connections on this server (limit 3)',
      });
      // A socket that is refused, or never sends connection_init, takes no place.
      sockets[0]?.ws.close();
      await sockets[0]?.closed;
      await new Promise((r) => setTimeout(r, 100));
      const again = openSocket(s.url, await tokenFor('d'));
      sockets.push(again);
      assert.equal(await again.acked, true);
    } finally {
      for (const x of sockets) x.ws.terminate();
      await s.close();
    }
  });
});

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
