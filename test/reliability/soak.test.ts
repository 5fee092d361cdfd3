/**
 * Soak: the server (a real process) under half the load it was measured to take, with partners
 * subscribed, for 2 minutes in `npm test` and 10 under RELIABILITY_FULL=1. Afterwards: every
 * acknowledged event stored once and received by every subscriber, no memory leaking and the p99
 * stable.
 *
 * Memory is what the server still holds after a full garbage collection, probed at the end of each
 * tenth but the last (memory.ts says why RSS cannot tell a leak). The line through those nine probes
 * may rise by at most 2 MiB plus 128 bytes per delivery between the first probe and the last. A leak
 * of 1 KiB per delivery passes that after 2,341 deliveries; the run fails if it had fewer, since it
 * then could not have caught one. The slowest run seen here, sharing the machine with another test
 * suite, had 53 a second, 5,000 between the probes. With 1 KiB kept per webhook request put into the
 * server, a run failed it: 10.7 MiB risen over 11,400 deliveries, 3.4 MiB allowed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { signToken } from '../../src/auth/tokens.js';
import {
  createDatabase,
  type EmbeddedPostgres,
  startEmbeddedPostgres,
} from '../../src/db/embedded-postgres.js';
import { HEAP_PROBE_NODE_ARGS, heapProbe } from '../helpers/heap-probe.js';
import { pollUntil } from '../helpers/poll.js';
import { freePort, processesUsing, type RunningMain, runMain } from '../helpers/process.js';
import { percentile } from '../helpers/stats.js';
import { WEBHOOK_ENV } from '../helpers/webhooks.js';
import { assertNothingLost, checkLedger } from './check.js';
import { type Follower, follow } from './follow.js';
import { acknowledged, type LedgerEntry, startLoad, tally } from './ledger.js';
import { type RetainedProbe, retainedGrowth } from './memory.js';

const FULL = process.env.RELIABILITY_FULL === '1';
const SOAK_MS = FULL ? 600_000 : 120_000;
const SUBSCRIBERS = 5;
const AUTH_SECRET = 'soak-auth-secret-0123456789abcdef';
const SEED = Number(process.env.RELIABILITY_SEED ?? Date.now() % 2 ** 31);

/** Resident memory of a process in bytes (Linux). */
async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  if (!kb) throw new Error(`no VmRSS for ${pid}`);
  return Number(kb) * 1024;
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe(`soak for ${SOAK_MS / 60_000} min at half the measured capacity, ${SUBSCRIBERS} subscribers (seed ${SEED})`, () => {
  let dir = '';
  let cluster: EmbeddedPostgres | undefined;
  let server: RunningMain | undefined;
  let url = '';
  let databaseUrl = '';
  const followers: Follower[] = [];

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'idm-soak-'));
    cluster = await startEmbeddedPostgres({ dir: path.join(dir, 'pg'), port: await freePort() });
    databaseUrl = await createDatabase(cluster.url, 'app');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    server = runMain({
      cwd: dir,
      // Test only: lets heapProbe have the server collect garbage (production exposes no gc).
      nodeArgs: HEAP_PROBE_NODE_ARGS,
      env: {
        PORT: String(port),
        HOST: '127.0.0.1',
        DATABASE_URL: databaseUrl,
        SPOOL_DIR: path.join(dir, 'spool'),
        AUTH_JWT_SECRET: AUTH_SECRET,
        ...WEBHOOK_ENV,
      },
    });
    await server.waitForLog('server listening', 60_000);
    const token = await signToken(new TextEncoder().encode(AUTH_SECRET), { scopes: ['events:subscribe'] });
    for (let i = 0; i < SUBSCRIBERS; i++) followers.push(await follow(url, token));
  });

  after(async () => {
    // The server and PostgreSQL go whatever a follower does: left running, they would keep this
    // process, and npm test, from ever ending.
    try {
      for (const f of followers) await f.stop();
    } finally {
      if (server && server.child.exitCode === null && server.child.signalCode === null) {
        server.child.kill('SIGTERM');
        await server.exited;
      }
      await cluster?.stop();
    }
    const left = dir ? await processesUsing(dir) : [];
    if (dir) await rm(dir, { recursive: true, force: true });
    assert.deepEqual(left, [], 'no server or PostgreSQL process left behind');
  });

  it('leaks no memory, keeps p99 stable, and every acknowledged event reaches the database and every subscriber', async () => {
    const running = server;
    const pid = running?.child.pid;
    assert.ok(running && pid);
    const ledger: LedgerEntry[] = [];
    // Capacity as measured here and now (the machine may be busy with other tests): a closed loop.
    const probe = startLoad({
      url,
      seed: SEED,
      concurrency: 16,
      maxDeliveries: 100_000,
      maxMs: 5_000,
      forgedShare: 0,
    });
    await probe.done;
    ledger.push(...probe.ledger);
    const capacity = probe.ledger.filter(acknowledged).length / 5;
    const rate = Math.max(20, Math.floor(capacity / 2));

    const WINDOWS = 10;
    const samples: { at: number; rss: number }[] = [];
    const start = Date.now();
    const sampler = (async () => {
      while (Date.now() - start < SOAK_MS) {
        samples.push({ at: Date.now() - start, rss: await rssOf(pid) });
        await sleep(1_000);
      }
    })();
    const soak = startLoad({
      url,
      seed: SEED + 1,
      concurrency: 64,
      maxDeliveries: Math.ceil((rate * SOAK_MS) / 1000),
      maxMs: SOAK_MS,
      rate,
      forgedShare: 0.02,
    });
    // At the end of each tenth but the last, under load: how many deliveries were answered, and what
    // the server holds after collecting garbage. Each probe pauses the server for a collection
    // (100-500 ms seen), once per tenth, so the p99 of every tenth but the last pays it alike.
    const probes: (RetainedProbe & { at: number })[] = [];
    const prober = (async () => {
      for (let k = 1; k < WINDOWS; k++) {
        await sleep(start + (k * SOAK_MS) / WINDOWS - Date.now());
        const delivered = soak.ledger.filter((e) => e.status !== undefined).length;
        const heap = await heapProbe(running);
        probes.push({ at: Date.now() - start, delivered, retained: heap.heapUsed + heap.external });
      }
    })();
    // Its failure is thrown where it is awaited, below, once the load is done.
    prober.catch(() => undefined);
    await soak.done;
    await sampler;
    await prober;
    ledger.push(...soak.ledger);

    // Ten windows, the first of them warm-up. p99: the last two windows against the median window, so
    // a trend fails and a single busy moment of a shared machine (other test files run alongside)
    // does not.
    const windowOf = (at: number) => Math.min(WINDOWS - 1, Math.floor((WINDOWS * at) / SOAK_MS));
    const inWindows = (at: number, ws: readonly number[]) => ws.includes(windowOf(at));
    const rssIn = (ws: number[]) => mean(samples.filter((s) => inWindows(s.at, ws)).map((s) => s.rss));
    const p99In = (ws: number[]) =>
      percentile(
        soak.ledger
          .filter((e) => acknowledged(e) && e.sentAt !== undefined && inWindows(e.sentAt - start, ws))
          .map((e) => e.ms as number)
          .sort((a, b) => a - b),
        99,
      );
    const measured = Array.from({ length: WINDOWS - 1 }, (_, k) => k + 1);
    const growth = retainedGrowth(probes);
    const windowP99s = measured.map((w) => p99In([w]));
    const p99Median = percentile(
      [...windowP99s].sort((a, b) => a - b),
      50,
    );
    const p99Last = p99In([WINDOWS - 2, WINDOWS - 1]);

    const client = new pg.Client(databaseUrl);
    await client.connect();
    try {
      const report = await checkLedger(ledger, client);
      const stored = (await client.query<{ id: string }>('SELECT id::text FROM identity_events')).rows.map(
        (r) => r.id,
      );
      const received = await pollUntil(
        async () => followers.map((f) => f.events().length),
        (counts) => counts.every((n) => n >= stored.length),
        60_000,
      );
      const figures = {
        ...tally(ledger),
        capacityPerSec: capacity,
        ratePerSec: rate,
        sent: soak.ledger.length,
        storedEvents: stored.length,
        receivedPerSubscriber: received,
        retainedByProbeMiB: probes.map((p) => Number((p.retained / 2 ** 20).toFixed(2))),
        deliveredByProbe: probes.map((p) => p.delivered),
        retainedRiseMiB: Number((growth.rise / 2 ** 20).toFixed(2)),
        retainedAllowedMiB: Number((growth.allowed / 2 ** 20).toFixed(2)),
        // Reported, not held to a bound: see memory.ts.
        rssByWindowMiB: measured.map((w) => Math.round(rssIn([w]) / 2 ** 20)),
        p99ByWindowMs: windowP99s,
        p99MedianMs: p99Median,
        p99LastMs: p99Last,
      };
      assertNothingLost('soak', figures, report);
      for (const f of followers) {
        const ids = f.events().map((e) => e.id);
        assert.equal(new Set(ids).size, ids.length, 'no event received twice');
        assert.deepEqual([...ids].sort(), [...stored].sort(), 'every stored event received');
      }
      assert.ok(
        soak.ledger.filter((e) => !e.forged).every(acknowledged),
        `every genuine delivery acknowledged: ${JSON.stringify(tally(soak.ledger))}`,
      );
      assert.ok(
        growth.deliveries >= growth.neededToCatch,
        `${growth.deliveries} deliveries between the first heap probe and the last: too few to catch ` +
          `a leak of 1 KiB each (${growth.neededToCatch} needed)`,
      );
      assert.ok(
        growth.rise < growth.allowed,
        `memory held after garbage collection rose ${figures.retainedRiseMiB} MiB over ` +
          `${growth.deliveries} deliveries, more than the ${figures.retainedAllowedMiB} MiB allowed: ` +
          `${figures.retainedByProbeMiB} MiB at ${figures.deliveredByProbe} deliveries`,
      );
      // Two minutes inside `npm test` share two cores with other test files starting and stopping
      // servers and PostgreSQL clusters: their load, not this server, moves the p99 by a factor of ten
      // there (seen: 58 -> 614 ms while a neighbour ran). So the short run holds the p99 under a
      // ceiling, and the full run, alone, holds the last windows to the median one.
      if (FULL) {
        assert.ok(
          p99Last <= 2 * p99Median + 50,
          `p99 of the last two windows ${p99Last} ms against the median window's ${p99Median} ms: ${windowP99s}`,
        );
      } else {
        assert.ok(p99Last < 2_000, `p99 of the last two windows ${p99Last} ms: ${windowP99s}`);
      }
    } finally {
      await client.end();
    }
  });
});
