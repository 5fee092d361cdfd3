/**
 * The ingestion transaction alone, without HTTP: `npm run bench -- ingest-sql`.
 *
 * Signed Prove deliveries are verified, parsed and turned into records (src/ingest/delivery-record.ts)
 * up front; then clients commit them through storeBatch() (one `ingest_batch()` call per transaction)
 * as fast as PostgreSQL answers: one delivery per transaction from 20 connections (no group commit),
 * and batches from 2 connections (the server's commit queue at its busiest), for 1-notification and
 * 100-notification deliveries, each on a fresh database. It tells what the SQL can do on this machine,
 * apart from any HTTP server, and where the CPU went.
 * Environment:
 *   BENCH_DURATION  seconds per measured run (default 5), after 2 s of warm-up
 *   BENCH_PRE_SQL   SQL run on each fresh database first, to try a schema change before writing its
 *                   migration (say, dropping an index)
 *   BENCH_NOTIFICATIONS  1 or 100: only the runs with that many notifications per delivery
 */
import pg from 'pg';
import type { Queryable } from '../src/data/sql.js';
import { buildRecord, type DeliveryRecord } from '../src/ingest/delivery-record.js';
import { proveProvider } from '../src/ingest/providers/prove.js';
import { storeBatch } from '../src/ingest/store.js';
import { cpuDuring, proveDeliveries, startCluster } from './lib.js';
import { type BenchReport, type BenchRow, row } from './report.js';

const SECRET = 'whsec_bench-secret-0123456789abcdef';
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const provider = proveProvider({ secret: SECRET });

/** `count` verified, parsed deliveries of `perDelivery` notifications. */
async function records(count: number, perDelivery: number): Promise<DeliveryRecord[]> {
  const out: DeliveryRecord[] = [];
  for (const d of proveDeliveries(SECRET, count, perDelivery)) {
    const raw = Buffer.from(d.body);
    const now = new Date();
    const v = await provider.verify(raw, d.headers, now);
    if (!v.ok) throw new Error(`a bench delivery did not verify: ${v.code}`);
    const p = provider.parse(v.delivery);
    if (!p.ok) throw new Error('a bench delivery did not parse');
    out.push(
      buildRecord({
        provider: 'PROVE',
        raw,
        receivedAt: now,
        verified: v.delivery,
        events: p.events,
        rejected: p.rejected,
      }),
    );
  }
  return out;
}

/** [notifications per delivery, deliveries per transaction, connections] */
const RUNS: [number, number, number][] = [
  [1, 1, 20],
  [1, 25, 2],
  [100, 1, 20],
  [100, 10, 2],
];

export async function run(): Promise<BenchReport> {
  const cluster = await startCluster();
  const rows: BenchRow[] = [];
  try {
    const only = process.env.BENCH_NOTIFICATIONS ? Number(process.env.BENCH_NOTIFICATIONS) : null;
    for (const [perDelivery, perBatch, connections] of RUNS.filter(([n]) => only === null || n === only)) {
      const url = await cluster.database(`bench_sql_${perDelivery}_${perBatch}`);
      const pool = new pg.Pool({ connectionString: url, max: connections });
      const db: Queryable = {
        query: <T>(sql: string, params?: unknown[]) => pool.query(sql, params).then((r) => r.rows as T),
      };
      if (process.env.BENCH_PRE_SQL) await pool.query(process.env.BENCH_PRE_SQL);
      const perSecond = perDelivery === 1 ? 16000 : 600; // above the fastest runs seen here
      const recs = await records(perSecond * (DURATION + 2), perDelivery);
      let next = 0;
      let done = 0;
      const commitFor = async (ms: number) => {
        const end = Date.now() + ms;
        await Promise.all(
          Array.from({ length: connections }, async () => {
            while (Date.now() < end && next < recs.length) {
              const batch = recs.slice(next, next + perBatch);
              next += batch.length;
              for (const r of await storeBatch(db, batch))
                if (r.replayed || r.accepted !== perDelivery)
                  throw new Error(`unexpected answer ${JSON.stringify(r)}`);
              done += batch.length;
            }
          }),
        );
      };
      await commitFor(2000);
      done = 0;
      const started = Date.now();
      // No server process here (pid -1 counts nothing): this process is the client, counted as autocannon.
      const { cpu } = await cpuDuring(-1, cluster.pg.port, () => commitFor(DURATION * 1000));
      const seconds = (Date.now() - started) / 1000;
      const ranOut = next >= recs.length;
      if (ranOut) console.warn('  (ran out of prepared deliveries: the figure is a lower bound)');
      const rate = done / seconds;
      console.log(
        `${perDelivery} notification(s) per delivery, ${perBatch} deliveries per transaction, ${connections} connections: ` +
          `${rate.toFixed(0)} deliveries/s = ${(rate * perDelivery).toFixed(0)} events/s; ` +
          `CPU (% of one core, 2 cores = 200): PostgreSQL ${cpu.postgres} = ${((cpu.postgres * 10) / rate).toFixed(2)} ms per delivery, ` +
          `this process ${cpu.autocannon}, other ${cpu.other}`,
      );
      const what =
        `${perDelivery} notification(s) per delivery, ${perBatch} per transaction, ${connections} connections` +
        (ranOut ? ' (lower bound)' : '');
      rows.push(
        perDelivery === 1 ? row(what, rate, 'deliveries/s') : row(what, rate * perDelivery, 'events/s'),
        row('same, PostgreSQL CPU per delivery', (cpu.postgres * 10) / rate, 'ms'),
      );
      await pool.end();
    }
    return { rows, machine: cluster.probe };
  } finally {
    await cluster.stop();
  }
}
