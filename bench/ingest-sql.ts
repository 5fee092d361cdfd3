/**
 * The ingestion transaction alone, without HTTP: `npm run bench -- ingest-sql`.
 *
 * Signed Prove deliveries are verified, parsed and turned into records (src/ingest/delivery-record.ts)
 * up front; then CONNECTIONS clients call `ingest_delivery()` with them as fast as PostgreSQL answers,
 * for 1-notification and 100-notification deliveries, each on a fresh database. It tells what the
 * SQL can do on this machine, apart from any HTTP server, and where the CPU went.
 * Environment:
 *   BENCH_DURATION  seconds per measured run (default 5), after 2 s of warm-up
 *   BENCH_PRE_SQL   SQL run on each fresh database first, to try a schema change before writing its
 *                   migration (say, dropping an index)
 */
import pg from 'pg';
import { buildRecord } from '../src/ingest/delivery-record.js';
import { proveProvider } from '../src/ingest/providers/prove.js';
import { cpuDuring, proveDeliveries, startCluster } from './lib.js';

const SECRET = 'whsec_bench-secret-0123456789abcdef';
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const CONNECTIONS = 20;
const provider = proveProvider({ secret: SECRET });

/** The three JSON arguments of ingest_delivery() for `count` deliveries of `perDelivery` notifications. */
async function records(count: number, perDelivery: number): Promise<string[][]> {
  const out: string[][] = [];
  for (const d of proveDeliveries(SECRET, count, perDelivery)) {
    const raw = Buffer.from(d.body);
    const now = new Date();
    const v = await provider.verify(raw, d.headers, now);
    if (!v.ok) throw new Error(`a bench delivery did not verify: ${v.code}`);
    const p = provider.parse(v.delivery);
    if (!p.ok) throw new Error('a bench delivery did not parse');
    const r = buildRecord({
      provider: 'PROVE',
      raw,
      receivedAt: now,
      verified: v.delivery,
      events: p.events,
      rejected: p.rejected,
    });
    out.push([JSON.stringify(r.delivery), JSON.stringify(r.events), JSON.stringify(r.summaries)]);
  }
  return out;
}

const cluster = await startCluster();
try {
  for (const perDelivery of [1, 100]) {
    const url = await cluster.database(`bench_sql_${perDelivery}`);
    const pool = new pg.Pool({ connectionString: url, max: CONNECTIONS });
    if (process.env.BENCH_PRE_SQL) await pool.query(process.env.BENCH_PRE_SQL);
    const recs = await records(perDelivery === 1 ? 4000 * (DURATION + 2) : 300 * (DURATION + 2), perDelivery);
    let next = 0;
    let done = 0;
    const run = async (ms: number) => {
      const end = Date.now() + ms;
      await Promise.all(
        Array.from({ length: CONNECTIONS }, async () => {
          while (Date.now() < end && next < recs.length) {
            const { rows } = await pool.query(
              'SELECT ingest_delivery($1::jsonb, $2::jsonb, $3::jsonb) AS r',
              [...recs[next++]!],
            );
            if (rows[0].r.accepted !== perDelivery)
              throw new Error(`unexpected answer ${JSON.stringify(rows[0].r)}`);
            done++;
          }
        }),
      );
    };
    await run(2000);
    done = 0;
    const started = Date.now();
    // No server process here (pid -1 counts nothing): this process is the client, counted as autocannon.
    const { cpu } = await cpuDuring(-1, cluster.pg.port, () => run(DURATION * 1000));
    const seconds = (Date.now() - started) / 1000;
    if (next >= recs.length) console.warn('  (ran out of prepared deliveries: the figure is a lower bound)');
    console.log(
      `${perDelivery} notification(s) per delivery, ${CONNECTIONS} connections: ` +
        `${(done / seconds).toFixed(0)} deliveries/s = ${((done * perDelivery) / seconds).toFixed(0)} events/s; ` +
        `CPU (% of one core, 2 cores = 200): PostgreSQL ${cpu.postgres}, this process ${cpu.autocannon}, other ${cpu.other}`,
    );
    await pool.end();
  }
} finally {
  await cluster.stop();
}
