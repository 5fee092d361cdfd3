/**
 * Slow and hostile HTTP clients against the real server: each slow socket is cut by the limit the
 * README states (src/http/timeouts.ts), idle sockets by the thousand do not slow healthy clients,
 * and a WebSocket subscription outlives every HTTP limit. RELIABILITY_FULL=1 holds more sockets
 * and waits past the longest limit; plain `npm test` runs the same cases, at the real limits, side by side.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import {
  HEADERS_TIMEOUT_MS,
  KEEP_ALIVE_TIMEOUT_MS,
  REQUEST_TIMEOUT_MS,
  SOCKET_IDLE_TIMEOUT_MS,
  TIMEOUT_CHECK_INTERVAL_MS,
} from '../../src/http/timeouts.js';
import { proveHeaders, signProve } from '../fixtures/signers.js';
import { pollUntil } from '../helpers/poll.js';
import { closedWithin, connectRaw, openFileLimit, type RawSocket, trickle } from '../helpers/raw-socket.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { percentile } from '../helpers/stats.js';
import { subscribe } from '../helpers/subscriber.js';
import { PROVE_SECRET, postProve, proveNotification, WEBHOOK_ENV } from '../helpers/webhooks.js';

const FULL = process.env.RELIABILITY_FULL === '1';
/** A cut may come one check interval after its limit, plus scheduling on a loaded machine. */
const MARGIN_MS = TIMEOUT_CHECK_INTERVAL_MS + 1500;

/** Both ends of each idle socket live in this process (the server runs in-process): two descriptors each. */
function idleSocketCount(): { count: number; note: string | null } {
  const wanted = FULL ? 5000 : 500;
  const limit = openFileLimit();
  const reserve = 400; // PostgreSQL connections, the healthy client, the runner's own files
  if (limit === null || limit >= 2 * wanted + reserve) return { count: wanted, note: null };
  const count = Math.max(50, Math.floor((limit - reserve) / 2));
  return {
    count,
    note: `open-file limit ${limit} (ulimit -n): holding ${count} idle sockets instead of ${wanted}`,
  };
}

/** Latencies (ms, sorted) of up to `n` sequential healthy requests on one keep-alive connection, sent before `until`. */
async function healthyLatencies(url: string, n: number, until = Number.POSITIVE_INFINITY): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n && Date.now() < until; i++) {
    const t0 = performance.now();
    const res = await fetch(`${url}/healthz`);
    await res.arrayBuffer();
    out.push(performance.now() - t0);
    assert.equal(res.status, 200, `healthy request ${i} answered ${res.status}`);
  }
  return out.sort((a, b) => a - b);
}

/** How many sockets the server holds open. */
function connectionsOf(s: TestServer): Promise<number> {
  return new Promise((resolve, reject) =>
    s.app.fastify.server.getConnections((err, n) => (err ? reject(err) : resolve(n))),
  );
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

describe('slow and hostile HTTP clients', { concurrency: true }, () => {
  let s: TestServer;
  const sockets = new Set<RawSocket>();
  const openRaw = async () => {
    const raw = await connectRaw(s.app.port);
    sockets.add(raw);
    return raw;
  };

  before(async () => {
    s = await startTestServer({ env: WEBHOOK_ENV });
  });
  // Every socket a test opened is closed here too, whatever the test's outcome.
  after(async () => {
    for (const raw of sockets) raw.socket.destroy();
    await s.close();
  });

  it(`answers 408 and closes a connection whose headers are not complete ${HEADERS_TIMEOUT_MS / 1000} s after it opened`, async () => {
    const raw = await openRaw();
    raw.socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n');
    // One header byte a second: the socket is never idle, only slow.
    void trickle(raw, 'X-Slow: '.padEnd(60, 'a'), 1000);
    const { at, data } = await closedWithin(raw, HEADERS_TIMEOUT_MS + MARGIN_MS);
    const elapsed = at - raw.openedAt;
    assert.match(data, /^HTTP\/1\.1 408 /, data);
    assert.ok(
      elapsed >= HEADERS_TIMEOUT_MS - 100,
      `cut after ${elapsed} ms, before the stated ${HEADERS_TIMEOUT_MS} ms`,
    );
    assert.ok(elapsed <= HEADERS_TIMEOUT_MS + MARGIN_MS, `cut only after ${elapsed} ms`);
  });

  it(`answers 408 and closes a webhook whose body trickles one byte a second, storing and spooling nothing`, async () => {
    const notification = proveNotification();
    const body = JSON.stringify({ notifications: [notification] });
    const token = await signProve({ secret: PROVE_SECRET, body });
    const correlationId = `slow-body-${process.pid}-${Date.now()}`;
    const head = Object.entries({
      host: 'localhost',
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      ...proveHeaders(token, correlationId),
    })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    const raw = await openRaw();
    raw.socket.write(`POST /webhooks/prove HTTP/1.1\r\n${head}\r\n`);
    const sending = trickle(raw, body, 1000);
    const { at, data } = await closedWithin(raw, REQUEST_TIMEOUT_MS + MARGIN_MS);
    const elapsed = at - raw.openedAt;
    const sent = await sending;
    assert.ok(sent < body.length, 'the whole body went through: the test proves nothing');
    assert.match(data, /^HTTP\/1\.1 408 /, data);
    assert.ok(
      elapsed >= REQUEST_TIMEOUT_MS - 100,
      `cut after ${elapsed} ms, before the stated ${REQUEST_TIMEOUT_MS} ms`,
    );
    assert.ok(elapsed <= REQUEST_TIMEOUT_MS + MARGIN_MS, `cut only after ${elapsed} ms`);
    // By this delivery's own ids: the subscription test beside this one stores a delivery of its own.
    const [deliveries] = await s.app.db.query(
      'SELECT count(*)::int AS n FROM webhook_deliveries WHERE correlation_id = $1',
      [correlationId],
    );
    const [events] = await s.app.db.query(
      'SELECT count(*)::int AS n FROM identity_events WHERE provider_event_id LIKE $1',
      [`%${notification.eventId}%`],
    );
    assert.deepEqual([deliveries.n, events.n], [0, 0]);
    assert.deepEqual(await filesUnder(s.spoolDir), []);
    // The answer says what happened and nothing more; the aborted body is no error of the server's.
    assert.ok(data.endsWith('{"error":"Request Timeout","message":"Client Timeout","statusCode":408}'), data);
    const errors = s.logs.filter((l) => (JSON.parse(l) as { level: number }).level >= 50);
    assert.deepEqual(errors, []);
  });

  it(`closes an idle keep-alive connection ${KEEP_ALIVE_TIMEOUT_MS / 1000} s after its last answer, as its Keep-Alive header says`, async () => {
    const raw = await openRaw();
    raw.socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const answer = await pollUntil(
      async () => raw.received(),
      (d) => d.endsWith('}'),
      5000,
    );
    const answeredAt = Date.now();
    assert.match(answer, /^HTTP\/1\.1 200 /, answer);
    assert.match(answer, new RegExp(`\r\nkeep-alive: timeout=${KEEP_ALIVE_TIMEOUT_MS / 1000}\r\n`, 'i'));
    const bound = answeredAt - raw.openedAt + KEEP_ALIVE_TIMEOUT_MS + 1000 + MARGIN_MS;
    const idle = (await closedWithin(raw, bound)).at - answeredAt;
    assert.ok(
      idle >= KEEP_ALIVE_TIMEOUT_MS - 100,
      `closed after ${idle} ms idle, before the stated ${KEEP_ALIVE_TIMEOUT_MS} ms`,
    );
    // Node closes one second after the time it advertises, so a client reusing the socket on time never races it.
    assert.ok(idle <= KEEP_ALIVE_TIMEOUT_MS + 1000 + MARGIN_MS, `still open after ${idle} ms idle`);
  });

  it('keeps healthy clients fast while idle sockets by the hundred are held open, then closes every idle one', async (t) => {
    const { count, note } = idleSocketCount();
    if (note) t.diagnostic(note);
    const requests = FULL ? 1000 : 300;
    await healthyLatencies(s.url, 50); // warm up: JIT, the keep-alive connection
    const baseline = await healthyLatencies(s.url, requests);

    // In bursts the listen backlog (LISTEN_BACKLOG) queues whole, so no connect waits for a SYN retry.
    const idle: RawSocket[] = [];
    for (let i = 0; i < count; i += 1000) {
      idle.push(...(await Promise.all(Array.from({ length: Math.min(1000, count - i) }, () => openRaw()))));
    }
    const firstOpened = Math.min(...idle.map((r) => r.openedAt));
    const lastOpened = Math.max(...idle.map((r) => r.openedAt));
    // A client's connect completes before the server has accepted: wait until it holds them all.
    const held = await pollUntil(
      () => connectionsOf(s),
      (n) => n >= count,
      10_000,
    );
    const heldAt = Date.now();
    assert.ok(held >= count, `the server holds ${held} connections of the ${count} opened`);
    // Measured while every idle socket is still held: the headers limit cuts the first ones HEADERS_TIMEOUT_MS after they opened.
    const until = firstOpened + HEADERS_TIMEOUT_MS - MARGIN_MS;
    const loaded = await healthyLatencies(s.url, requests, until);
    const stillOpen = idle.filter((r) => !r.socket.destroyed).length;
    const openedIn = lastOpened - firstOpened;
    const heldAfter = heldAt - firstOpened;
    assert.ok(
      loaded.length >= 100,
      `only ${loaded.length} requests fit while the sockets were held (opened in ${openedIn} ms, all accepted after ${heldAfter} ms): no p99`,
    );

    const [b50, b99, l50, l99] = [
      percentile(baseline, 50),
      percentile(baseline, 99),
      percentile(loaded, 50),
      percentile(loaded, 99),
    ];
    t.diagnostic(
      `${count} idle sockets opened in ${openedIn} ms; ${baseline.length} then ${loaded.length} requests; p50 ${b50.toFixed(2)} -> ${l50.toFixed(2)} ms, p99 ${b99.toFixed(2)} -> ${l99.toFixed(2)} ms`,
    );
    assert.equal(
      stillOpen,
      count,
      'idle sockets were closed before the measurement ended: it measured less load',
    );
    // 20 % over the baseline, with an absolute floor: a 2-core machine shared with other work jitters by milliseconds.
    assert.ok(l50 <= b50 * 1.2 + 5, `median ${b50.toFixed(2)} -> ${l50.toFixed(2)} ms`);
    assert.ok(l99 <= b99 * 1.2 + 20, `p99 ${b99.toFixed(2)} -> ${l99.toFixed(2)} ms`);

    // An idle socket never sends its headers: the headers limit cuts it, counted from when it opened.
    const deadline = lastOpened + HEADERS_TIMEOUT_MS + MARGIN_MS;
    const closed = await Promise.race([
      Promise.all(idle.map((r) => r.closed)),
      new Promise<null>((r) => setTimeout(() => r(null), Math.max(0, deadline - Date.now())).unref()),
    ]);
    const left = idle.filter((r) => !r.socket.destroyed).length;
    assert.ok(
      closed !== null,
      `${left} of ${count} idle sockets still open ${HEADERS_TIMEOUT_MS + MARGIN_MS} ms after they opened`,
    );
    for (const r of idle) sockets.delete(r);
  });

  it('keeps a graphql-ws subscription open past every HTTP timeout, and it still receives an event', async () => {
    const sub = await subscribe(s.url, await s.token(['events:subscribe']));
    try {
      // Past the request limit (and its check); with RELIABILITY_FULL past the idle-socket limit too.
      const wait = (FULL ? SOCKET_IDLE_TIMEOUT_MS : REQUEST_TIMEOUT_MS) + MARGIN_MS;
      const closedEarly = await Promise.race([
        sub.closed.then((code) => code),
        new Promise<null>((r) => setTimeout(() => r(null), wait)),
      ]);
      assert.equal(closedEarly, null, `the subscription socket closed with ${closedEarly} within ${wait} ms`);
      const n = proveNotification({ eventType: 'DISCONNECT' });
      const answer = await postProve(s.url, { notifications: [n] });
      assert.equal(answer.status, 200, answer.text);
      const [event] = await sub.waitFor(1);
      assert.equal(event?.type, 'DISCONNECT');
      assert.match(event?.providerEventId ?? '', new RegExp(String(n.eventId)));
    } finally {
      await sub.dispose();
    }
  });
});

describe('the cap on concurrent sockets', () => {
  it('closes a connection past the cap at once, counts it in /metrics, and serves again once a socket is free', async () => {
    const cap = 20;
    const s = await startTestServer({ maxConnections: cap });
    const held: RawSocket[] = [];
    try {
      for (let i = 0; i < cap; i++) held.push(await connectRaw(s.app.port));
      assert.equal(
        await pollUntil(
          () => connectionsOf(s),
          (n) => n >= cap,
          5000,
        ),
        cap,
      );
      const extra = await connectRaw(s.app.port);
      held.push(extra);
      const { at, data } = await closedWithin(extra, 1000);
      assert.equal(data, '', 'the connection past the cap was served');
      assert.ok(
        at - extra.openedAt < 1000,
        `the connection past the cap stayed open ${at - extra.openedAt} ms`,
      );
      held[0]!.socket.destroy();
      await pollUntil(
        () => connectionsOf(s),
        (n) => n < cap,
        5000,
      );
      const metrics = await fetch(`${s.url}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /^http_connections_dropped_total 1$/m);
    } finally {
      for (const raw of held) raw.socket.destroy();
      await s.close();
    }
  });
});
