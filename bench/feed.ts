/**
 * Live feed (issue: live change feed, "Speed"). `npm run bench -- feed`.
 * A real server process on a durable embedded PostgreSQL; graphql-ws clients in this process.
 *  1. one event to 1,000 subscribers (1,000 sockets): delivery latency from the webhook's 200
 *  2. 10,000 subscriptions over 1,000 sockets: every subscriber gets each event; p99; server RSS
 *  3. resume replay of 10,000 missed events
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { signToken } from '../src/auth/tokens.js';
import { proveDeliveries, spawnServer, startCluster } from './lib.js';
import { type BenchReport, row } from './report.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SECRET = 'whsec_bench-secret-0123456789abcdef';
const AUTH = 'bench-auth-secret-0123456789abcdef0123';

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

async function connect(url: string, token: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = createClient({
      url: `${url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      lazy: false,
      retryAttempts: 0,
      onNonLazyError: reject,
      on: { connected: () => resolve(client) },
    });
  });
}

type Arrival = (providerEventId: string, at: number) => void;

function subscribeAll(client: Client, times: number, onEvent: Arrival, after?: string) {
  for (let i = 0; i < times; i++) {
    client.subscribe<{ identityEvents: { providerEventId: string } }>(
      {
        query: 'subscription ($after: String) { identityEvents(after: $after) { providerEventId cursor } }',
        variables: after ? { after } : {},
      },
      {
        next: (m) => m.data && onEvent(m.data.identityEvents.providerEventId, performance.now()),
        error: () => {},
        complete: () => {},
      },
    );
  }
}

async function rssMiB(pid: number) {
  return Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
}

/** Posts `count` single-notification deliveries, spaced; returns each event's 200 time. */
async function postSpaced(url: string, count: number, gapMs: number) {
  const sent = new Map<string, number>();
  for (const d of proveDeliveries(SECRET, count, 1)) {
    const id = (JSON.parse(d.body) as { notifications: { eventId: string }[] }).notifications[0]
      ?.eventId as string;
    const res = await fetch(`${url}/webhooks/prove`, { method: 'POST', body: d.body, headers: d.headers });
    sent.set(id, performance.now());
    if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
    await new Promise((r) => setTimeout(r, gapMs));
  }
  return sent;
}

/** `sockets` clients, socket i with `tokens[i]`. */
async function fanOut(
  url: string,
  tokens: readonly string[],
  sockets: number,
  perSocket: number,
  events: number,
) {
  const clients = await Promise.all(
    Array.from({ length: sockets }, (_, i) => connect(url, tokens[i % tokens.length] as string)),
  );
  const arrivals: { id: string; at: number }[] = [];
  for (const c of clients) subscribeAll(c, perSocket, (id, at) => arrivals.push({ id, at }));
  await new Promise((r) => setTimeout(r, 1500)); // every subscribe registered
  const sent = await postSpaced(url, events, 300);
  await new Promise((r) => setTimeout(r, 2000));
  const latencies = arrivals
    .filter((a) => sent.has(a.id))
    .map((a) => Math.max(0, a.at - (sent.get(a.id) as number)));
  await Promise.all(clients.map((c) => c.dispose()));
  return { expected: sockets * perSocket * events, received: latencies.length, latencies };
}

export async function run(): Promise<BenchReport> {
  const cluster = await startCluster();
  try {
    const app = await spawnServer(path.join(here, '../src/main.js'), {
      DATABASE_URL: await cluster.database('bench_feed'),
      PROVE_WEBHOOK_SECRET: SECRET,
      AUTH_JWT_SECRET: AUTH,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
    });
    const sign = (subject: string) =>
      signToken(new TextEncoder().encode(AUTH), { scopes: ['events:subscribe', 'events:read'], subject });
    const token = await sign('bench-feed');
    // One subject per socket, as 1,000 clients would be: the server admits 20 sockets per subject
    // (src/graphql/ws-limits.ts), and closes the 21st with 4029.
    const tokens = await Promise.all(Array.from({ length: 1000 }, (_, i) => sign(`bench-feed-${i}`)));
    const rssIdle = await rssMiB(app.child.pid as number);

    const a = await fanOut(app.url, tokens, 1000, 1, 20);
    console.log(`1 event -> 1,000 subscribers (1,000 sockets), 20 events:`);
    console.log(
      `  received ${a.received}/${a.expected}; from the 200: p50 ${pct(a.latencies, 50).toFixed(1)} ms, p99 ${pct(a.latencies, 99).toFixed(1)} ms, max ${pct(a.latencies, 100).toFixed(1)} ms`,
    );

    const b = await fanOut(app.url, tokens, 1000, 10, 10);
    const rssLoaded = await rssMiB(app.child.pid as number);
    console.log(`10,000 subscriptions over 1,000 sockets, 10 events:`);
    console.log(
      `  received ${b.received}/${b.expected}; p50 ${pct(b.latencies, 50).toFixed(1)} ms, p99 ${pct(b.latencies, 99).toFixed(1)} ms`,
    );
    console.log(
      `  server RSS: idle ${rssIdle.toFixed(0)} MiB, after the 10,000-subscription run ${rssLoaded.toFixed(0)} MiB`,
    );

    // Replay: remember the newest cursor, store 10,000 events, then resume from the cursor.
    const q = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: '{ events(first: 1) { edges { cursor } } }' }),
    });
    const cursor = ((await q.json()) as { data: { events: { edges: { cursor: string }[] } } }).data.events
      .edges[0]?.cursor;
    for (const d of proveDeliveries(SECRET, 100, 100)) {
      const res = await fetch(`${app.url}/webhooks/prove`, {
        method: 'POST',
        body: d.body,
        headers: d.headers,
      });
      if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
    }
    await new Promise((r) => setTimeout(r, 500));
    const client = await connect(app.url, token);
    let got = 0;
    const t0 = performance.now();
    const done = new Promise<number>((resolve) =>
      subscribeAll(
        client,
        1,
        () => {
          if (++got === 10_000) resolve(performance.now() - t0);
        },
        cursor,
      ),
    );
    const replayMs = await done;
    await client.dispose();
    console.log(`resume replay of 10,000 missed events: ${replayMs.toFixed(0)} ms`);
    await app.stop();
    // The targets of the live-feed issue, as BENCHMARKS.md records them.
    return {
      machine: cluster.probe,
      rows: [
        row('1 event to 1,000 subscribers (1,000 sockets), 20 events: received', a.received, 'events', {
          target: { atLeast: a.expected },
        }),
        row('same, p50 from the 200', pct(a.latencies, 50), 'ms'),
        row('same, p99 from the 200', pct(a.latencies, 99), 'ms', { target: { below: 100 } }),
        row('10,000 subscriptions over 1,000 sockets, 10 events: received', b.received, 'events', {
          target: { atLeast: b.expected },
        }),
        row('same, p50', pct(b.latencies, 50), 'ms'),
        row('same, p99', pct(b.latencies, 99), 'ms', { target: { below: 500 } }),
        row('server RSS, idle', rssIdle, 'MiB'),
        row('server RSS after the 10,000-subscription run', rssLoaded, 'MiB', { target: { below: 1024 } }),
        row('resume replay of 10,000 missed events', replayMs, 'ms', { target: { below: 2000 } }),
      ],
    };
  } finally {
    await cluster.stop();
  }
}
