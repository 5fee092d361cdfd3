/**
 * GraphQL read throughput (issue: GraphQL throughput). `npm run bench -- graphql`.
 *
 * One database of 10,000 identities and 100,000 events, seeded once with set-based SQL, is read by the
 * bare baseline (bench/baseline-graphql.ts) and then by our server (dist/src/main.js), one after the
 * other, with the query at 50 connections, each after a warm-up. Our server runs three times:
 * with its response cache off (every request runs its SQL), with the default configuration (cache on),
 * and with the default configuration while webhook deliveries arrive (each one empties the cache). Besides req/s it prints where
 * the machine's CPU went (server, PostgreSQL, autocannon, anything else: this machine may be shared) and
 * the server's CPU time per request, the figure that compares runs made at different times.
 * Environment:
 *   BENCH_DURATION  seconds per measured run (default 10)
 *   BENCH_PROFILE   a directory: each server runs under `node --cpu-prof` there, and the top self-time
 *                   packages and functions of its run (warm-up included) are printed
 *   BENCH_ONLY      `baseline`, `uncached`, `cached` or `writes` to run one target
 *   BENCH_WRITE_RATE webhook deliveries per second in the `writes` run (default 20)
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { signToken } from '../src/auth/tokens.js';
import {
  cacheCounts,
  cpuDuring,
  type FixedRequest,
  type LoadResult,
  loadFixed,
  printProfile,
  profilingFlags,
  proveDeliveries,
  seedIdentities,
  spawnServer,
  startCluster,
} from './lib.js';
import { type BenchReport, type BenchRow, row } from './report.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const PROFILE_DIR = process.env.BENCH_PROFILE ? path.resolve(process.env.BENCH_PROFILE) : null;
const ONLY = process.env.BENCH_ONLY ?? null;
const WRITE_RATE = Number(process.env.BENCH_WRITE_RATE ?? 20);
const AUTH_SECRET = 'bench-auth-secret-0123456789abcdef0123';
const PROVE_SECRET = 'bench-prove-secret';
const CONNECTIONS = 50;

const QUERY = `{ identities(first: 20) { edges { node { id status riskLevel
  events(first: 5) { edges { node { type occurredAt } } } } } } }`;

const fmt = (r: LoadResult) =>
  `${r.requestsPerSec.toFixed(0)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, non-2xx ${r.non2xx}, errors ${r.errors}`;

interface Page {
  data?: {
    identities: {
      edges: { node: { id: string; events: { edges: { node: { type: string; occurredAt: string } }[] } } }[];
    };
  };
  errors?: unknown[];
}

/** One request, checked: 200, no errors, 20 identities with 5 events each. Returns its data. */
async function verifyOnce(url: string, request: FixedRequest): Promise<Page['data']> {
  const res = await fetch(`${url}/graphql`, {
    method: request.method,
    headers: request.headers,
    ...(request.body !== undefined ? { body: request.body } : {}),
  });
  const body = (await res.json()) as Page;
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  const edges = body.data?.identities.edges ?? [];
  assert.equal(edges.length, 20);
  for (const e of edges) assert.equal(e.node.events.edges.length, 5);
  return body.data;
}

async function measure(
  name: string,
  server: { url: string; pid: number },
  pgPort: number,
  request: FixedRequest,
): Promise<LoadResult & { cpuMs: number }> {
  // Warm-up: V8's optimiser, the pool's connections, PostgreSQL's plan and buffer caches.
  await loadFixed(server.url, '/graphql', request, {
    connections: CONNECTIONS,
    duration: Math.min(5, DURATION),
  });
  const {
    result: r,
    cpu,
    serverSeconds,
  } = await cpuDuring(server.pid, pgPort, () =>
    loadFixed(server.url, '/graphql', request, { connections: CONNECTIONS, duration: DURATION }),
  );
  console.log(`\n${name}\n  ${CONNECTIONS} connections, ${DURATION} s: ${fmt(r)}`);
  console.log(
    `  CPU (% of one core, 2 cores = 200): server ${cpu.server}, PostgreSQL ${cpu.postgres}, ` +
      `autocannon ${cpu.autocannon}, other processes ${cpu.other}`,
  );
  // CPU time per request barely depends on what else the machine runs: it compares runs made apart.
  const cpuMs = (1000 * serverSeconds) / Math.max(1, r.total);
  console.log(
    `  server CPU per request: ${cpuMs.toFixed(2)} ms (${(1000 / cpuMs).toFixed(0)} req/s per core)`,
  );
  return { ...r, cpuMs };
}

/**
 * Posts one signed Prove delivery (one event, for one of 200 new identities) every 1/WRITE_RATE s until
 * stopped: each commit empties the response cache, and new identities change the first page.
 */
function startWriter(url: string) {
  const deliveries = proveDeliveries(PROVE_SECRET, 100_000, 1, 200);
  let next = 0;
  let ok = 0;
  let failed = 0;
  const inFlight = new Set<Promise<void>>();
  const timer = setInterval(() => {
    const d = deliveries[next++ % deliveries.length]!;
    const p = fetch(`${url}/webhooks/prove`, { method: 'POST', headers: d.headers, body: d.body })
      .then(async (res) => {
        await res.arrayBuffer();
        if (res.status === 200) ok++;
        else failed++;
      })
      .catch(() => {
        failed++;
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  }, 1000 / WRITE_RATE);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(inFlight);
      return { ok, failed };
    },
  };
}

/** The server's `graphql_response_cache_total` counters, as `hit N, miss N, …`; null if it has none. */
async function cacheOutcomes(url: string): Promise<string | null> {
  const counts = Object.entries(await cacheCounts(url)).map(([result, n]) => `${result} ${n}`);
  return counts.length ? counts.join(', ') : null;
}

export async function run(): Promise<BenchReport> {
  const cluster = await startCluster();
  const spool = await mkdtemp(path.join(os.tmpdir(), 'idm-bench-spool-'));
  try {
    const databaseUrl = await cluster.database('bench_graphql');
    const started = Date.now();
    // 10,000 identities × 10 events in transactions of 1,000; the deliveries of the write load each
    // create an identity (so each one changes the first page), as before seeding moved to bench/lib.ts.
    const seeded = await seedIdentities(databaseUrl, { deliveryIds: false });
    console.log(
      `seeded ${seeded.identities} identities, ${seeded.events} events in ${seeded.transactions} transactions`,
    );
    console.log(`seeding took ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const token = await signToken(new TextEncoder().encode(AUTH_SECRET), {
      scopes: ['identities:read', 'events:read'],
    });
    const request: FixedRequest = {
      method: 'POST',
      body: JSON.stringify({ query: QUERY }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    };
    const env = {
      NODE_ENV: 'production',
      AUTH_JWT_SECRET: AUTH_SECRET,
      DATABASE_URL: databaseUrl,
      SPOOL_DIR: spool,
      LOG_LEVEL: 'info',
    };

    const profiling = (target: string) => profilingFlags(PROFILE_DIR, target);
    const rows: BenchRow[] = [];
    const notes: string[] = [];

    let baseline: (LoadResult & { cpuMs: number }) | null = null;
    let baselineData: Page['data'] | null = null;
    if (ONLY === null || ONLY === 'baseline') {
      const base = await spawnServer(
        path.join(here, 'baseline-graphql.js'),
        env,
        '/readyz',
        await profiling('baseline'),
      );
      baselineData = await verifyOnce(base.url, request);
      baseline = await measure(
        'baseline: node:http + graphql-js execute + pg, same two statements',
        { url: base.url, pid: base.child.pid! },
        cluster.pg.port,
        request,
      );
      await base.stop();
      if (PROFILE_DIR) await printProfile(path.join(PROFILE_DIR, 'baseline'));
    }

    const targets = [
      {
        key: 'uncached',
        name: 'ours, response cache off (GRAPHQL_CACHE_TTL_MS=0): every request runs its SQL',
        label: 'ours, response cache off',
        env: { ...env, GRAPHQL_CACHE_TTL_MS: '0' },
        writes: false,
      },
      {
        key: 'cached',
        name: 'ours, default configuration (response cache on), reads only',
        label: 'ours, default (response cache on), reads only',
        env,
        writes: false,
      },
      {
        key: 'writes',
        name: `ours, default configuration, while ${WRITE_RATE} webhook deliveries/s arrive (each empties the cache)`,
        label: `ours, default, while ${WRITE_RATE} webhook deliveries/s arrive`,
        env,
        writes: true,
      },
    ].filter((t) => ONLY === null || ONLY === t.key);
    for (const target of targets) {
      const app = await spawnServer(
        path.join(here, '../src/main.js'),
        { ...target.env, PROVE_WEBHOOK_SECRET: PROVE_SECRET },
        '/readyz',
        await profiling(target.key),
      );
      // Twice: a query runs on graphql-js the first time, compiled after (src/graphql/executor.ts).
      const ours = await verifyOnce(app.url, request);
      assert.deepEqual(await verifyOnce(app.url, request), ours, 'a compiled query answers differently');
      if (baselineData)
        assert.deepEqual(ours, baselineData, 'our server and the baseline answer differently');
      const writer = target.writes ? startWriter(app.url) : null;
      const result = await measure(
        target.name,
        { url: app.url, pid: app.child.pid! },
        cluster.pg.port,
        request,
      );
      if (writer) {
        const w = await writer.stop();
        console.log(`  webhook deliveries meanwhile: ${w.ok} answered 200, ${w.failed} otherwise`);
        notes.push(`${target.label}: ${w.ok} webhook deliveries answered 200, ${w.failed} otherwise`);
        assert.equal(w.failed, 0, 'a webhook delivery failed during the read load');
      }
      const cache = await cacheOutcomes(app.url);
      if (cache) console.log(`  response cache: ${cache}`);
      if (cache) notes.push(`${target.label}: response cache ${cache} (warm-up included)`);
      await app.stop();
      if (PROFILE_DIR) await printProfile(path.join(PROFILE_DIR, target.key));
      if (baseline) {
        console.log(
          `  ratio to the baseline: ${(result.requestsPerSec / baseline.requestsPerSec).toFixed(2)} in req/s, ` +
            `${(baseline.cpuMs / result.cpuMs).toFixed(2)} in server CPU per request`,
        );
      }
      console.log(`  target 1,500 req/s: ${result.requestsPerSec >= 1500 ? 'met' : 'not met'}`);
      rows.push(
        row(`${target.label}, ${CONNECTIONS} connections`, result.requestsPerSec, 'req/s', {
          baseline: baseline?.requestsPerSec,
          target: { atLeast: 1500 },
        }),
        row('same, p99', result.p99, 'ms', { baseline: baseline?.p99 }),
        row('same, server CPU per request', result.cpuMs, 'ms', { baseline: baseline?.cpuMs }),
      );
    }
    return {
      ...(baseline
        ? {
            baseline:
              'graphql-js `execute` behind node:http with the same two SQL statements ' +
              '(bench/baseline-graphql.ts), same run',
          }
        : {}),
      machine: cluster.probe,
      rows,
      notes,
    };
  } finally {
    await cluster.stop();
    await rm(spool, { recursive: true, force: true });
  }
}
