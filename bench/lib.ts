/** Shared pieces of the benchmarks: a PostgreSQL cluster, child servers, autocannon runs. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { createDataSource, migrate } from '../src/db/data-source.js';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../src/db/embedded-postgres.js';

export interface Cluster {
  pg: EmbeddedPostgres;
  /** A fresh, migrated database; returns its URL. */
  database(name: string): Promise<string>;
  stop(): Promise<void>;
}

/** A real, durable cluster (fsync on, as in production), in a temporary directory. */
export async function startCluster(): Promise<Cluster> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'idm-bench-'));
  const server = await startEmbeddedPostgres({ dir: path.join(dir, 'pg') });
  return {
    pg: server,
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
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
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

/** Starts a Node script as a server process and waits until `readyPath` answers 200. */
export async function spawnServer(script: string, env: Record<string, string>, readyPath = '/readyz') {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, [script], {
    env: { ...process.env, ...env, PORT: String(port) },
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
  return {
    url,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
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
export async function load(
  url: string,
  path: string,
  deliveries: { body: string; headers: Record<string, string> }[],
  opts: { connections: number; duration: number; overallRate?: number },
): Promise<LoadResult> {
  let next = 0;
  const result = await autocannon({
    url,
    connections: opts.connections,
    duration: opts.duration,
    ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
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
  return {
    requestsPerSec: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    total: result.requests.total,
  };
}
