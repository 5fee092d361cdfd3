import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import WebSocket from 'ws';
import { Spool } from '../../src/ingest/spool.js';
import { createLogger } from '../../src/observability/logger.js';
import { DEV_TOKEN_LABEL } from '../../src/startup-summary.js';
import { proveHeaders, signProve } from '../fixtures/signers.js';
import { createTestDatabase } from '../helpers/db.js';
import { proveEvent, spooledRecord } from '../helpers/events.js';
import { pollUntil } from '../helpers/poll.js';
import { processesUsing, type RunningMain, runMain } from '../helpers/process.js';
import { PROVE_SECRET, proveNotification } from '../helpers/webhooks.js';

/**
 * WEB_CONCURRENCY=2 as `npm start` runs it: a node:cluster primary and two workers on one port. Which
 * worker answers is told by /healthz; a keep-alive connection stays with the worker it was handed to,
 * so a request (or a WebSocket upgrade) on it goes to a known worker.
 */

interface Reply {
  status: number;
  body: string;
}

function request(
  agent: http.Agent,
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent, method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    // A connection the primary hands to a worker in the instant it dies is never answered (node:cluster).
    req.setTimeout(5_000, () => req.destroy(new Error(`no answer from ${url} within 5 s`)));
    req.end(opts.body);
  });
}

interface Health {
  status: string;
  worker: number;
  pid: number;
}

/** A connection to worker `index`: new connections until the round robin hands one to it. */
async function connectionTo(url: string, index: number): Promise<{ agent: http.Agent; health: Health }> {
  for (let attempt = 0; attempt < 30; attempt++) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    // A connection handed to a worker as it is killed fails: take another.
    const reply = await request(agent, `${url}/healthz`).catch(() => null);
    const health = reply ? (JSON.parse(reply.body) as Health) : null;
    if (health?.worker === index) return { agent, health };
    agent.destroy();
  }
  throw new Error(`no connection reached worker ${index} in 30 attempts`);
}

/** Runs `fn` on a fresh connection to worker `index` (an idle one is closed after 5 s, then it could be anyone's). */
async function onWorker<T>(url: string, index: number, fn: (agent: http.Agent) => Promise<T>): Promise<T> {
  const { agent } = await connectionTo(url, index);
  try {
    return await fn(agent);
  } finally {
    agent.destroy();
  }
}

const EVENTS_QUERY = '{ events(first: 100) { edges { node { providerEventId } } } }';

async function eventIds(agent: http.Agent, url: string, token: string): Promise<string[]> {
  const res = await request(agent, `${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: EVENTS_QUERY }),
  });
  assert.equal(res.status, 200, res.body);
  const body = JSON.parse(res.body) as {
    data: { events: { edges: { node: { providerEventId: string } }[] } };
  };
  return body.data.events.edges.map((e) => e.node.providerEventId).sort();
}

/** The host's /metrics (any worker answers with every worker's, each series labelled with it). */
async function hostMetrics(url: string): Promise<string> {
  const agent = new http.Agent();
  try {
    return (await request(agent, `${url}/metrics`)).body;
  } finally {
    agent.destroy();
  }
}

/** A series' value for one worker in the host's /metrics; NaN when it has none. */
function seriesValue(metrics: string, series: string, worker: number): number {
  const [name, labels = ''] = series.split('{');
  const inner = labels.replace(/\}$/, '');
  const line = `${name}{${inner ? `${inner},` : ''}worker="${worker}"} `;
  const found = metrics.split('\n').find((l) => l.startsWith(line));
  return found ? Number(found.slice(line.length)) : Number.NaN;
}

/** A graphql-ws subscriber to identityEvents over `agent`'s connection (so on that connection's worker). */
function subscriber(agent: http.Agent, url: string, token: string) {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws', { agent });
  const received: string[] = [];
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.once('open', () =>
    ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })),
  );
  ws.on('message', (data: Buffer) => {
    const m = JSON.parse(String(data)) as {
      type: string;
      payload?: { data?: { identityEvents?: { providerEventId: string } } };
    };
    if (m.type === 'connection_ack') {
      const query = 'subscription { identityEvents { providerEventId } }';
      ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
    }
    if (m.type === 'next') {
      received.push(m.payload?.data?.identityEvents?.providerEventId ?? JSON.stringify(m));
    }
  });
  ws.on('error', () => {});
  return { ws, received, closed };
}

/** A delivery spooled by an earlier run, as the ingest service spools one. */
async function spoolOne(dir: string, eventId: string): Promise<void> {
  const event = proveEvent(`spooled-identity-${eventId}`, eventId, 'PORT', new Date());
  const record = spooledRecord([event]);
  const spool = new Spool(dir, createLogger('silent'));
  await spool.init();
  await spool.append(record);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function logLines(run: RunningMain): Record<string, unknown>[] {
  return run.stdout.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('WEB_CONCURRENCY=2: a cluster primary and two workers', () => {
  const dirs: string[] = [];
  const runs: RunningMain[] = [];
  after(async () => {
    for (const r of runs)
      if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    for (const dir of dirs) {
      for (const line of await processesUsing(dir))
        process.kill(Number(line.trim().split(/\s+/)[0]), 'SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('serves from both workers on one embedded PostgreSQL, across workers, through a worker crash, and stops', async () => {
    const cwd = await mkdtemp(path.join(os.tmpdir(), 'idm-cluster-'));
    dirs.push(cwd);
    const spoolDir = path.join(cwd, '.data', 'spool');
    // Left by earlier runs: one with a single process (SPOOL_DIR itself), one with three workers.
    await spoolOne(spoolDir, 'spooled-by-one-process');
    await spoolOne(path.join(spoolDir, 'worker-3'), 'spooled-by-worker-3');

    const run = runMain({
      cwd,
      env: {
        PORT: '0',
        WEB_CONCURRENCY: '2',
        PROVE_WEBHOOK_SECRET: PROVE_SECRET,
        // Long enough that only the commit notification can explain another worker's fresh answer.
        GRAPHQL_CACHE_TTL_MS: '60000',
      },
    });
    runs.push(run);
    const url = String((await run.waitForLog('server listening', 90_000)).url);
    const token = run.stdout[run.stdout.findIndex((l) => l.startsWith(DEV_TOKEN_LABEL)) + 1] ?? '';
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'a dev token is printed');
    assert.equal(
      run.stdout.filter((l) => l.startsWith('identity-monitor is ready')).length,
      1,
      'one summary',
    );
    assert.ok(run.stdout.includes('  Workers     2 processes (WEB_CONCURRENCY) sharing the port'));
    assert.equal(
      run.stdout.filter((l) => l.includes('started embedded PostgreSQL')).length,
      1,
      'PostgreSQL is started once, by the primary',
    );
    assert.equal(run.stdout.filter((l) => l.includes('"applied migrations"')).length, 1, 'migrated once');

    // Both workers serve, each a process of its own beside the primary.
    const one = await connectionTo(url, 1);
    const two = await connectionTo(url, 2);
    one.agent.destroy();
    two.agent.destroy();
    assert.notEqual(one.health.pid, two.health.pid);
    assert.ok(![one.health.pid, two.health.pid].includes(run.child.pid ?? 0), 'the primary serves nothing');

    // The spools of the earlier runs were moved to worker 1, which loaded them.
    const spooled = ['spooled-by-one-process', 'spooled-by-worker-3'];
    const loaded = await pollUntil(
      () => onWorker(url, 1, (a) => eventIds(a, url, token)),
      (ids) => spooled.every((id) => ids.includes(id)),
      20_000,
    );
    assert.deepEqual(loaded, spooled);
    assert.deepEqual((await readdir(spoolDir)).sort(), ['failed', 'worker-1', 'worker-2']);

    // Worker 2 caches its answer; a subscriber listens on worker 2; the webhook goes to worker 1.
    assert.deepEqual(await onWorker(url, 2, (a) => eventIds(a, url, token)), spooled);
    const pinned = await connectionTo(url, 2);
    const sub = subscriber(pinned.agent, url, token);
    const subscribed = await pollUntil(
      () => hostMetrics(url),
      (m) => seriesValue(m, 'feed_subscriptions', 2) === 1,
      10_000,
    );
    assert.deepEqual(
      [1, 2].map((w) => seriesValue(subscribed, 'ws_connections', w)),
      [0, 1],
      'the socket is on worker 2',
    );
    const notification = proveNotification();
    const body = JSON.stringify({ notifications: [notification] });
    const answer = await onWorker(url, 1, async (a) =>
      request(a, `${url}/webhooks/prove`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...proveHeaders(await signProve({ secret: PROVE_SECRET, body })),
        },
        body,
      }),
    );
    assert.equal(answer.status, 200, answer.body);
    const accepted = 'webhook_deliveries_total{provider="PROVE",outcome="accepted"}';
    const afterPost = await hostMetrics(url);
    assert.deepEqual(
      [1, 2].map((w) => seriesValue(afterPost, accepted, w)),
      [1, Number.NaN],
      'worker 1 took it',
    );
    const eventId = String(notification.eventId);
    await pollUntil(
      async () => sub.received,
      (r) => r.includes(eventId),
      10_000,
    );
    assert.deepEqual(
      sub.received,
      [eventId],
      'the subscriber on worker 2 gets the event committed on worker 1',
    );
    const everywhere = [...spooled, eventId].sort();
    for (const index of [1, 2]) {
      const ids = await pollUntil(
        () => onWorker(url, index, (a) => eventIds(a, url, token)),
        (got) => got.includes(eventId),
        10_000,
      );
      assert.deepEqual(ids, everywhere, `worker ${index} answers with the new event`);
    }

    // A worker killed is restarted with its index; the server answers meanwhile and after.
    const restarted = run.waitForLog('worker restarted', 60_000);
    process.kill(one.health.pid, 'SIGKILL');
    assert.equal((await onWorker(url, 2, (a) => request(a, `${url}/readyz`))).status, 200);
    assert.equal((await restarted).worker, 1);
    const again = await connectionTo(url, 1);
    again.agent.destroy();
    assert.notEqual(again.health.pid, one.health.pid, 'a new process');
    assert.deepEqual(await onWorker(url, 1, (a) => eventIds(a, url, token)), everywhere);

    // SIGTERM to the primary: every worker closes gracefully (sockets told 1001), then PostgreSQL stops.
    run.child.kill('SIGTERM');
    assert.deepEqual(await run.exited, { code: 0, signal: null });
    assert.equal(await sub.closed, 1001);
    pinned.agent.destroy();
    assert.deepEqual(await processesUsing(cwd), [], 'no process left behind, embedded PostgreSQL included');
    for (const pid of [again.health.pid, two.health.pid]) assert.ok(!alive(pid), `worker ${pid} is gone`);
    const stopped = logLines(run).filter((l) => l.msg === 'shut down cleanly');
    assert.deepEqual(
      stopped.map((l) => l.worker ?? 'primary').sort(),
      [1, 2, 'primary'],
      "each worker's lines name it; the primary's name none",
    );
  });

  it('fails the whole start when a worker cannot start, with its error', async () => {
    const db = await createTestDatabase();
    const cwd = await mkdtemp(path.join(os.tmpdir(), 'idm-cluster-fail-'));
    dirs.push(cwd);
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as net.AddressInfo;
    try {
      const run = runMain({
        cwd,
        env: { NODE_ENV: 'test', PORT: String(port), WEB_CONCURRENCY: '2', DATABASE_URL: db.url },
      });
      runs.push(run);
      assert.deepEqual(await run.exited, { code: 1, signal: null });
      assert.match(
        run.stderr.join(''),
        new RegExp(
          `^start-up failed: worker [12]: cannot listen on HOST=127\\.0\\.0\\.1 PORT=${port}: .*EADDRINUSE.*\\n$`,
        ),
      );
    } finally {
      await new Promise((resolve) => taken.close(resolve));
      await db.drop();
    }
  });

  it('stops restarting workers that keep dying, and exits 1', async () => {
    const db = await createTestDatabase();
    const cwd = await mkdtemp(path.join(os.tmpdir(), 'idm-cluster-crash-'));
    dirs.push(cwd);
    try {
      const run = runMain({
        cwd,
        env: { NODE_ENV: 'test', PORT: '0', WEB_CONCURRENCY: '2', DATABASE_URL: db.url },
      });
      runs.push(run);
      const listening = await run.waitForLog('2 workers listening', 60_000);
      const pids = (listening.workers as { pid: number }[]).map((w) => w.pid);
      // Two deaths now, then each restarted worker killed as it comes up: the fifth death ends it.
      for (const pid of pids) process.kill(pid, 'SIGKILL');
      for (let death = 3; death <= 5; death++) {
        const restarted = await run.waitForLog('worker restarted', 30_000);
        process.kill(Number(restarted.pid), 'SIGKILL');
      }
      assert.deepEqual(await run.exited, { code: 1, signal: null });
      const gaveUp = logLines(run).find((l) => String(l.msg).startsWith('5 worker exits within 30 s'));
      assert.ok(gaveUp, run.stdout.join('\n'));
      const pidsSeen = logLines(run)
        .filter((l) => l.msg === 'worker restarted')
        .map((l) => Number(l.pid));
      for (const pid of [...pids, ...pidsSeen]) assert.ok(!alive(pid), `worker ${pid} is gone`);
    } finally {
      await db.drop();
    }
  });
});
