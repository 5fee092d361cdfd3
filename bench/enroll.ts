/**
 * Batch enrollment latency (issue: enrollment mutations). `npm run bench -- enroll`.
 *
 * Our server (dist/src/main.js) in sandbox mode (no Prove credentials) on a fresh database of the
 * embedded PostgreSQL (fsync on): `batchEnrollIdentities` of 100 new PROVE identities, sent one after
 * the other, 50 times after a short warm-up. Target: p50 under 100 ms. Environment:
 *   BENCH_RUNS  measured calls (default 50)
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { signToken } from '../src/auth/tokens.js';
import { spawnServer, startCluster } from './lib.js';
import { type BenchReport, row } from './report.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const AUTH_SECRET = 'bench-auth-secret-0123456789abcdef0123';
const RUNS = Number(process.env.BENCH_RUNS ?? 50);
const WARMUP = 5;
const BATCH = 100;

const MUTATION = `mutation($identities: [EnrollIdentityInput!]!) {
  batchEnrollIdentities(identities: $identities) {
    enrolledCount failedCount
    results { index identity { id status } error { code message } }
  }
}`;

/** 100 distinct customers with valid US numbers; `run` keeps every call's customers new. */
function batch(run: number) {
  return Array.from({ length: BATCH }, (_, i) => {
    const n = run * BATCH + i;
    return {
      phoneNumber: `+1202${String(5_000_000 + n).padStart(7, '0')}`,
      clientCustomerId: `bench-${run}-${i}`,
    };
  });
}

function percentile(sorted: readonly number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

export async function run(): Promise<BenchReport> {
  const cluster = await startCluster();
  try {
    const server = await spawnServer(path.join(here, '../src/main.js'), {
      DATABASE_URL: await cluster.database('bench_enroll'),
      AUTH_JWT_SECRET: AUTH_SECRET,
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
    });
    try {
      const token = await signToken(new TextEncoder().encode(AUTH_SECRET), { scopes: ['identities:write'] });
      const call = async (run: number): Promise<number> => {
        const started = performance.now();
        const res = await fetch(`${server.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ query: MUTATION, variables: { identities: batch(run) } }),
        });
        const body = (await res.json()) as {
          data?: { batchEnrollIdentities: { enrolledCount: number; failedCount: number } };
          errors?: unknown;
        };
        const ms = performance.now() - started;
        assert.equal(body.errors, undefined, JSON.stringify(body.errors));
        assert.equal(body.data?.batchEnrollIdentities.enrolledCount, BATCH);
        return ms;
      };

      for (let run = 0; run < WARMUP; run++) await call(run);
      const latencies: number[] = [];
      for (let run = WARMUP; run < WARMUP + RUNS; run++) latencies.push(await call(run));
      const sorted = [...latencies].sort((a, b) => a - b);
      const p50 = percentile(sorted, 50);
      const mean = latencies.reduce((a, b) => a + b, 0) / latencies.length;
      console.log(
        `\nbatchEnrollIdentities, ${BATCH} new PROVE identities per call, sandbox mode, sequential`,
      );
      console.log(
        `  ${RUNS} calls after ${WARMUP} warm-up: p50 ${p50.toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms, ` +
          `mean ${mean.toFixed(1)} ms, min ${sorted[0]?.toFixed(1)} ms, max ${sorted.at(-1)?.toFixed(1)} ms`,
      );
      console.log(
        `  = ${((BATCH * 1000) / mean).toFixed(0)} enrollments/s; target p50 < 100 ms: ${p50 < 100 ? 'met' : 'MISSED'}`,
      );
      return {
        machine: cluster.probe,
        rows: [
          row(`batchEnrollIdentities of ${BATCH} new identities, ${RUNS} calls, p50`, p50, 'ms', {
            target: { below: 100 },
          }),
          row('same, p99', percentile(sorted, 99), 'ms'),
          row('same, mean', mean, 'ms'),
          row('enrollments per second (sequential calls)', (BATCH * 1000) / mean, 'identities/s'),
        ],
      };
    } finally {
      await server.stop();
    }
  } finally {
    await cluster.stop();
  }
}
