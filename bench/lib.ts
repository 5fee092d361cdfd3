/** Shared pieces of the benchmarks: a PostgreSQL cluster, child servers, autocannon runs. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { createDataSource, migrate } from '../src/db/data-source.js';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../src/db/embedded-postgres.js';
import type { MachineProbe } from './report.js';

/**
 * Stops of the servers and clusters started here and not stopped yet, newest last: a benchmark that
 * fails half-way leaves none running for the next one (stopStarted).
 */
const unstopped = new Set<() => Promise<void>>();

/** Stops whatever spawnServer, spawnServerOn and startCluster started that still runs, newest first. */
export async function stopStarted(): Promise<number> {
  const stops = [...unstopped].reverse();
  for (const stop of stops) await stop();
  return stops.length;
}

export interface Cluster {
  pg: EmbeddedPostgres;
  /** The machine's speed when the cluster started (printed then, reported by the benchmark). */
  probe: MachineProbe;
  /** A fresh, migrated database; returns its URL. */
  database(name: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * How long the disk under `dir` takes to make 8 KiB durable (write + fdatasync), in microseconds: the
 * floor of every durable commit. It varies from day to day on this VM (90 to 300 µs seen), and with it
 * every write benchmark, so each run prints it.
 */
export function fsyncMicros(dir: string, rounds = 500): number {
  const file = path.join(dir, 'fsync-probe');
  const fd = openSync(file, 'w');
  const page = Buffer.alloc(8192, 1);
  const started = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) {
    writeSync(fd, page, 0, page.length, 0);
    fdatasyncSync(fd);
  }
  const micros = Number(process.hrtime.bigint() - started) / 1000 / rounds;
  closeSync(fd);
  return Math.round(micros);
}

/**
 * Milliseconds to SHA-256 64 MiB in this process: how fast this VM's CPU is right now. Its speed
 * varies from session to session as much as its disk does, so each run prints both.
 */
export function cpuProbeMs(): number {
  const chunk = Buffer.alloc(1 << 20, 7);
  const started = process.hrtime.bigint();
  const hash = createHash('sha256');
  for (let i = 0; i < 64; i++) hash.update(chunk);
  hash.digest();
  return Math.round(Number(process.hrtime.bigint() - started) / 1e6);
}

/** A real, durable cluster (fsync on, as in production), in a temporary directory. */
export async function startCluster(): Promise<Cluster> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'idm-bench-'));
  const probe = { fsyncMicros: fsyncMicros(dir), cpuProbeMs: cpuProbeMs() };
  console.log(
    `machine now: write + fdatasync of 8 KiB ${probe.fsyncMicros} µs; SHA-256 of 64 MiB ${probe.cpuProbeMs} ms`,
  );
  const server = await startEmbeddedPostgres({ dir: path.join(dir, 'pg') });
  const stop = async () => {
    unstopped.delete(stop);
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  };
  unstopped.add(stop);
  return {
    pg: server,
    probe,
    async database(name) {
      const admin = new pg.Client(server.url);
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${name}`);
      await admin.query(`CREATE DATABASE ${name}`);
      await admin.end();
      const url = new URL(server.url);
      url.pathname = `/${name}`;
      const ds = createDataSource({ url: url.toString(), poolSize: 2 });
      await ds.initialize();
      await migrate(ds);
      await ds.destroy();
      return url.toString();
    },
    stop,
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts a Node script as a server process and waits until `readyPath` answers 200. `nodeArgs` go to
 * node before the script (e.g. `--cpu-prof`, which NODE_OPTIONS does not allow).
 */
export async function spawnServer(
  script: string,
  env: Record<string, string>,
  readyPath = '/readyz',
  nodeArgs: readonly string[] = [],
) {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, script], {
    // One process unless the bench (or the caller's environment) asks for workers: production mode
    // forks one per core, and every bench measures CPU and /metrics of the one PID it started.
    env: { WEB_CONCURRENCY: '1', ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(url + readyPath)).status === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, child, stop: stopOf(child) };
}

/** SIGTERM and the wait for exit, remembered until then for stopStarted. */
function stopOf(child: ChildProcess): () => Promise<void> {
  const stop = () =>
    new Promise<void>((resolve) => {
      unstopped.delete(stop);
      // One that has exited already would never emit 'exit' again.
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  unstopped.add(stop);
  child.once('exit', () => unstopped.delete(stop));
  return stop;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** A Prove webhook token, signed synchronously (so tens of thousands can be prepared up front). */
export function proveToken(secret: string, body: string): string {
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = b64url(
    JSON.stringify({
      iss: 'Prove Identity',
      iat: now,
      nbf: now,
      exp: now + 300,
      jti: randomUUID(),
      body_hash: createHash('sha256').update(body).digest('hex'),
    }),
  );
  const sig = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${sig}`;
}

/** `count` distinct Prove deliveries of `perDelivery` notifications each, over `identities` identities. */
export function proveDeliveries(secret: string, count: number, perDelivery: number, identities = 5000) {
  const out: { body: string; headers: Record<string, string> }[] = [];
  const types = ['PORT', 'LINE_TYPE_CHANGE', 'PORT', 'LINETYPE_CHANGE'];
  for (let d = 0; d < count; d++) {
    const notifications = Array.from({ length: perDelivery }, (_, i) => ({
      eventId: randomUUID(),
      event: 'phone number ported to new provider',
      eventType: types[(d + i) % types.length],
      eventTimestamp: new Date().toISOString(),
      clientCustomerId: `cust-${(d * perDelivery + i) % identities}`,
      identityId: `bench-${(d * perDelivery + i) % identities}`,
    }));
    const body = JSON.stringify({ notifications });
    out.push({
      body,
      headers: {
        'content-type': 'application/json',
        'x-prove-authorization': `Bearer ${proveToken(secret, body)}`,
        'x-correlation-id': randomUUID(),
      },
    });
  }
  return out;
}

export interface LoadResult {
  requestsPerSec: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  total: number;
}

/** Runs autocannon, each request taking the next prepared delivery (none is sent twice). */
function toLoadResult(result: autocannon.Result): LoadResult {
  return {
    requestsPerSec: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    total: result.requests.total,
  };
}

export async function load(
  url: string,
  path: string,
  deliveries: { body: string; headers: Record<string, string> }[],
  opts: { connections: number; duration: number },
): Promise<LoadResult> {
  let next = 0;
  const result = await autocannon({
    url,
    connections: opts.connections,
    duration: opts.duration,
    requests: [
      {
        method: 'POST',
        path,
        setupRequest: (req) => {
          const d = deliveries[next++ % deliveries.length];
          return d ? { ...req, body: d.body, headers: d.headers } : req;
        },
      },
    ],
  });
  if (next > deliveries.length)
    throw new Error(`ran out of prepared deliveries (${next} > ${deliveries.length})`);
  return toLoadResult(result);
}

/**
 * An open-loop load at a steady rate: request k is due at k / rate seconds and is sent then, whatever
 * the earlier ones are doing, over at most `connections` keep-alive sockets (a request finding them all
 * busy waits for one). Its latency runs from when it was due to the end of its answer, so a stall of
 * the server counts for every request it delays (no coordinated omission).
 *
 * autocannon's `overallRate` does not do this: each connection sends its share of a second back to
 * back as the second starts, then waits for the next one, so "1,000/s" is a burst of 1,000 at full
 * speed every second; it then corrects latencies for an interval of 1 ms whatever the rate.
 */
export async function pacedLoad(
  url: string,
  path: string,
  deliveries: { body: string; headers: Record<string, string> }[],
  opts: { connections: number; duration: number; rate: number },
): Promise<LoadResult> {
  const total = Math.round(opts.rate * opts.duration);
  if (total > deliveries.length) throw new Error(`${total} requests need as many prepared deliveries`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.connections });
  const target = new URL(path, url);
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  const send = (d: { body: string; headers: Record<string, string> }, due: number) =>
    new Promise<void>((resolve) => {
      const req = http.request(target, { method: 'POST', agent, headers: d.headers }, (res) => {
        res.resume();
        res.on('end', () => {
          latencies.push(performance.now() - due);
          if (res.statusCode === undefined || res.statusCode < 200 || res.statusCode > 299) non2xx++;
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(d.body);
    });
  const inFlight: Promise<void>[] = [];
  const start = performance.now();
  let sent = 0;
  while (sent < total) {
    const now = performance.now();
    for (; sent < total && start + (sent * 1000) / opts.rate <= now; sent++)
      inFlight.push(send(deliveries[sent] as (typeof deliveries)[number], start + (sent * 1000) / opts.rate));
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inFlight);
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  return {
    requestsPerSec: latencies.length / elapsed,
    p50: at(0.5),
    p99: at(0.99),
    non2xx,
    errors,
    total: latencies.length,
  };
}

/** One HTTP request, sent as is every time (a read benchmark needs no fresh body per request). */
export interface FixedRequest {
  method: 'GET' | 'POST';
  body?: string;
  headers: Record<string, string>;
}

/** Runs autocannon sending the same request on every connection. */
export async function loadFixed(
  url: string,
  path: string,
  request: FixedRequest,
  opts: { connections: number; duration: number },
): Promise<LoadResult> {
  const result = await autocannon({
    // autocannon takes the path from the URL (a `path` option would be ignored).
    url: new URL(path, url).toString(),
    connections: opts.connections,
    duration: opts.duration,
    method: request.method,
    headers: request.headers,
    ...(request.body !== undefined ? { body: request.body } : {}),
  });
  return toLoadResult(result);
}

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

type CpuProfile = { nodes: CpuProfileNode[]; samples: number[]; timeDeltas: number[] };
type CallFrame = CpuProfileNode['callFrame'];

/** Self time of a V8 `.cpuprofile` summed by `keyOf(frame)`, as `{ percent, name }`, largest first. */
function selfTimeBy(
  profile: CpuProfile,
  keyOf: (f: CallFrame) => string,
): { percent: number; name: string }[] {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const f = byNode.get(id)?.callFrame;
    if (!f) return;
    const name = keyOf(f);
    self.set(name, (self.get(name) ?? 0) + dt);
    total += dt;
  });
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .map(([name, t]) => ({ percent: (100 * t) / (total || 1), name }));
}

/**
 * The functions with the most self time in a V8 `.cpuprofile` (from `node --cpu-prof`), best first:
 * enough to see where a server's CPU goes without other tools.
 */
export function topSelfTime(profile: CpuProfile, count = 25): { percent: number; name: string }[] {
  return selfTimeBy(profile, (f) => {
    const file = f.url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '');
    return `${f.functionName || '(anonymous)'} ${file ? `${file}:${f.lineNumber + 1}` : ''}`.trim();
  }).slice(0, count);
}

/** Self time summed by package (node_modules/<pkg>, our own code, node internals, GC, idle). */
export function selfTimeByPackage(profile: CpuProfile): { percent: number; name: string }[] {
  return selfTimeBy(profile, (f) => {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f.url);
    if (m) return m[1] as string;
    if (f.url.startsWith('node:')) return 'node internals';
    return f.url ? 'our code' : `(${f.functionName || 'native'})`;
  });
}

interface CpuSnapshot {
  /** Busy clock ticks of the whole machine (all cores), from /proc/stat. */
  busy: number;
  /** utime + stime ticks and parent of every process, from /proc/<pid>/stat. */
  procs: Map<number, { ticks: number; ppid: number; cmd: string }>;
}

async function cpuSnapshot(): Promise<CpuSnapshot> {
  const cpu = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
  const busy = cpu.reduce((a, b) => a + b, 0) - (cpu[3] ?? 0) - (cpu[4] ?? 0);
  const procs = new Map<number, { ticks: number; ppid: number; cmd: string }>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const [stat, cmd] = await Promise.all([
        readFile(`/proc/${name}/stat`, 'utf8'),
        readFile(`/proc/${name}/cmdline`, 'utf8'),
      ]);
      // Fields after the parenthesised command: state ppid … utime(14) stime(15), counted from 1.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(name), {
        ticks: Number(rest[11]) + Number(rest[12]),
        ppid: Number(rest[1]),
        cmd: cmd.replaceAll('\0', ' '),
      });
    } catch {
      // the process ended meanwhile
    }
  }
  return { busy, procs };
}

/**
 * Where the machine's CPU went while `run` ran, in percent of one core (2 cores = 200 %): the server
 * process, this process (autocannon), the PostgreSQL cluster on `pgPort`, and everything else on the
 * machine (a benchmark on a shared machine must show when something else was busy).
 */
export async function cpuDuring<T>(
  serverPid: number,
  pgPort: number,
  run: () => Promise<T>,
): Promise<{
  result: T;
  /** Percent of one core over the run. */
  cpu: Record<'server' | 'autocannon' | 'postgres' | 'other', number>;
  /** CPU seconds the server process used over the run. */
  serverSeconds: number;
}> {
  const started = Date.now();
  const before = await cpuSnapshot();
  const result = await run();
  const after = await cpuSnapshot();
  const seconds = (Date.now() - started) / 1000;
  const ticksPerSecond = 100; // USER_HZ on Linux
  const used = (pid: number) => (after.procs.get(pid)?.ticks ?? 0) - (before.procs.get(pid)?.ticks ?? 0);
  const postmaster = [...after.procs].find(
    ([, p]) => p.cmd.includes('bin/postgres') && p.cmd.includes(`-p ${pgPort}`),
  )?.[0];
  let postgres = postmaster === undefined ? 0 : used(postmaster);
  for (const [pid, p] of after.procs)
    if (postmaster !== undefined && p.ppid === postmaster) postgres += used(pid);
  // The server and its cluster workers (WEB_CONCURRENCY > 1 forks them from the PID we started).
  let server = used(serverPid);
  for (const [pid, p] of after.procs) if (p.ppid === serverPid) server += used(pid);
  const autocannon = used(process.pid);
  const other = Math.max(0, after.busy - before.busy - server - autocannon - postgres);
  const pct = (ticks: number) => Math.round((100 * ticks) / ticksPerSecond / seconds);
  return {
    result,
    cpu: { server: pct(server), autocannon: pct(autocannon), postgres: pct(postgres), other: pct(other) },
    serverSeconds: server / ticksPerSecond,
  };
}

/** Node flags for a benchmark target: with a profile directory, a CPU profile into a directory of its own. */
export async function profilingFlags(profileDir: string | null, target: string): Promise<string[]> {
  if (!profileDir) return [];
  const dir = path.join(profileDir, target);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}

/** The top self-time packages and functions of every CPU profile in `dir` (written when a server exits). */
export async function printProfile(dir: string): Promise<void> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
  for (const f of files) {
    const profile = JSON.parse(await readFile(path.join(dir, f), 'utf8'));
    console.log(`\nprofile ${path.join(dir, f)}: self time by package`);
    for (const p of selfTimeByPackage(profile).slice(0, 15)) {
      console.log(`  ${p.percent.toFixed(1).padStart(5)} %  ${p.name}`);
    }
    console.log('top self-time functions');
    for (const p of topSelfTime(profile, 30))
      console.log(`  ${p.percent.toFixed(1).padStart(5)} %  ${p.name}`);
  }
}

/**
 * spawnServer on another Node binary: PostGraphile 5 needs Node 22 and this project runs on 20. Same
 * readiness wait and stop as spawnServer.
 */
export async function spawnServerOn(
  node: string,
  script: string,
  env: Record<string, string>,
  readyPath = '/readyz',
) {
  const port = await freePort();
  const child: ChildProcess = spawn(node, [script], {
    // One process unless the bench (or the caller's environment) asks for workers: production mode
    // forks one per core, and every bench measures CPU and /metrics of the one PID it started.
    env: { WEB_CONCURRENCY: '1', ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  let ready = false;
  for (let i = 0; i < 600 && !ready && child.exitCode === null; i++) {
    try {
      ready = (await fetch(url + readyPath)).status === 200;
    } catch {
      // not listening yet
    }
    if (!ready) await new Promise((r) => setTimeout(r, 100));
  }
  if (!ready) {
    child.kill('SIGKILL');
    throw new Error(`${script} on ${node} did not become ready`);
  }
  return { url, child, stop: stopOf(child) };
}

/**
 * The shape bench/graphql.ts reads: `identities` identities over the past year with `perIdentity`
 * events each (written `eventsPerTx` to a transaction, so tx_id varies as under real ingestion), with
 * plausible columns; set-based SQL, a few seconds for 100,000 events. PROVE identities (7 in 10) get
 * the provider ids `bench-0`, `bench-1`, … in age order, the ids proveDeliveries sends, so deliveries
 * made with `identities` = their count update seeded identities instead of creating new ones.
 * Returns the counts.
 */
export async function seedIdentities(
  url: string,
  opts: {
    identities?: number;
    perIdentity?: number;
    eventsPerTx?: number;
    /**
     * Give the PROVE identities proveDeliveries' identity and customer ids (the default), so its
     * deliveries land on them; false leaves them random, so every delivery creates an identity.
     */
    deliveryIds?: boolean;
  } = {},
): Promise<{ identities: number; events: number; prove: number; transactions: number }> {
  const identities = opts.identities ?? 10_000;
  const events = identities * (opts.perIdentity ?? 10);
  const eventsPerTx = opts.eventsPerTx ?? 1_000;
  const db = new pg.Client(url);
  await db.connect();
  try {
    await db.query(
      `INSERT INTO identities (provider, provider_identity_id, client_customer_id, phone_number, status,
         risk_level, enrolled_at, deactivated_at, created_at, updated_at)
       SELECT p.provider, gen_random_uuid()::text, 'cust-' || g,
         CASE WHEN p.provider = 'PROVE' THEN '+1202' || lpad((5550000 + g)::text, 7, '0') END,
         (ARRAY['ACTIVE','ACTIVE','ACTIVE','ACTIVE','ACTIVE','ACTIVE','ACTIVE','DEACTIVATED','ENDED','ACTIVE'])[g % 10 + 1],
         (ARRAY['UNKNOWN','LOW','LOW','MEDIUM','HIGH'])[g % 5 + 1],
         t.at, CASE WHEN g % 10 = 7 THEN t.at + interval '30 days' END, t.at, t.at
       FROM generate_series(1, $1::int) AS g
       CROSS JOIN LATERAL (SELECT (ARRAY['PROVE','PROVE','PROVE','PROVE','PROVE','PROVE','PROVE','PASSBASE',
         'PASSBASE','VOVE'])[g % 10 + 1] AS provider) p
       CROSS JOIN LATERAL (SELECT now() - interval '365 days' + g * interval '52 minutes' AS at) t`,
      [identities],
    );
    // proveDeliveries' identity and customer ids, so its deliveries land on these identities.
    if (opts.deliveryIds !== false)
      await db.query(`UPDATE identities i SET provider_identity_id = 'bench-' || p.n, client_customer_id = 'cust-' || p.n
      FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) - 1 AS n FROM identities
            WHERE provider = 'PROVE') p
      WHERE p.id = i.id`);
    // Each batch is its own transaction (its own tx_id), as deliveries are.
    for (let from = 0; from < events; from += eventsPerTx) {
      await db.query(
        `WITH ids AS (SELECT id, provider, created_at, row_number() OVER (ORDER BY created_at, id) - 1 AS n
                      FROM identities)
         INSERT INTO identity_events (identity_id, provider, provider_event_id, type, raw_type, description,
           occurred_at, received_at, client_customer_id, new_carrier, new_line_type, verification_status)
         SELECT i.id, i.provider, 'bench-' || g, x.type, x.raw_type, x.description,
           i.created_at + (g / $3::int) * interval '17 hours', i.created_at + (g / $3::int) * interval '17 hours' + interval '2 seconds',
           NULL, CASE WHEN x.type = 'PORT' THEN 'Verizon' END,
           CASE WHEN x.type = 'LINE_TYPE_CHANGE' THEN 'mobile' END, x.verification_status
         FROM generate_series($1::int, $2::int) AS g
         JOIN ids i ON i.n = g % $3::int
         CROSS JOIN LATERAL (
           SELECT CASE i.provider
               WHEN 'PROVE' THEN (ARRAY['PORT','LINE_TYPE_CHANGE','PORT','DISCONNECT','PHONE_NUMBER_CHANGE'])[g % 5 + 1]
               ELSE 'VERIFICATION_STATUS_CHANGED' END AS type,
             CASE i.provider
               WHEN 'PROVE' THEN (ARRAY['PORT','LINETYPE_CHANGE','PORT','DISCONNECT','PHONE_NUMBER_CHANGE'])[g % 5 + 1]
               WHEN 'PASSBASE' THEN 'VERIFICATION_REVIEWED' ELSE 'successful' END AS raw_type,
             CASE i.provider WHEN 'PROVE' THEN 'phone number ported to new provider' END AS description,
             CASE WHEN i.provider <> 'PROVE' THEN (ARRAY['pending','approved','declined'])[g % 3 + 1] END
               AS verification_status
         ) x`,
        [from, Math.min(from + eventsPerTx, events) - 1, identities],
      );
    }
    await db.query(`UPDATE identities i SET last_event_at = m.at
      FROM (SELECT identity_id, max(occurred_at) AS at FROM identity_events GROUP BY identity_id) m
      WHERE m.identity_id = i.id`);
    await db.query('VACUUM ANALYZE');
    const { rows } = await db.query<{ i: number; e: number; p: number; tx: number }>(
      `SELECT (SELECT count(*) FROM identities)::int AS i, (SELECT count(*) FROM identity_events)::int AS e,
         (SELECT count(*) FROM identities WHERE provider = 'PROVE')::int AS p,
         (SELECT count(DISTINCT tx_id) FROM identity_events)::int AS tx`,
    );
    const r = rows[0]!;
    return { identities: r.i, events: r.e, prove: r.p, transactions: r.tx };
  } finally {
    await db.end();
  }
}

/**
 * A server's `graphql_response_cache_total` by result, summed over its cluster workers (each labels
 * its series `worker="<i>"`); empty if it has no response cache.
 */
export async function cacheCounts(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const m of text.matchAll(/^graphql_response_cache_total\{[^}]*\bresult="(\w+)"[^}]*\} (\d+)/gm))
    counts[m[1]!] = (counts[m[1]!] ?? 0) + Number(m[2]);
  return counts;
}
