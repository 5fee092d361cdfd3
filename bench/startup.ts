/**
 * Start-up time and idle memory (issue: foundation). `npm run bench -- startup`.
 * Runs what `npm start` runs after its build (node dist/src/main.js) in a fresh directory with no
 * environment, so the embedded PostgreSQL is initialised the first time and reused the second; the
 * build step (`npm run build`) is timed separately.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './lib.js';
import { type BenchReport, row } from './report.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024;
}

async function postgresRssMiB(dir: string): Promise<number> {
  const out = execFileSync('ps', ['-eo', 'rss,args'], { encoding: 'utf8' });
  return (
    out
      .split('\n')
      .filter((l) => l.includes(dir))
      .reduce((sum, l) => sum + Number(l.trim().split(/\s+/)[0]), 0) / 1024
  );
}

async function startOnce(cwd: string) {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(process.execPath, [path.join(root, 'dist/src/main.js')], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/', PORT: String(port) },
    stdio: 'ignore',
  });
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200) break;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const readyMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 3000)); // idle
  const rss = await rssMiB(child.pid as number);
  const pgRss = await postgresRssMiB(cwd);
  const exited = new Promise((r) => child.once('exit', r));
  const s0 = performance.now();
  child.kill('SIGTERM');
  await exited;
  return { readyMs, rss, pgRss, stopMs: performance.now() - s0 };
}

export async function run(): Promise<BenchReport> {
  const b0 = performance.now();
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'ignore' });
  const buildMs = performance.now() - b0;
  const cwd = await mkdtemp(path.join(os.tmpdir(), 'idm-startup-'));
  try {
    const first = await startOnce(cwd);
    const warm = await startOnce(cwd);
    const f = (x: number) => x.toFixed(0);
    console.log(`build (npm run build, tsc):         ${f(buildMs)} ms`);
    console.log(`first start to /readyz 200:         ${f(first.readyMs)} ms (initdb + migrations)`);
    console.log(`warm start to /readyz 200:          ${f(warm.readyMs)} ms`);
    console.log(
      `idle RSS, server process:           ${first.rss.toFixed(0)} MiB (warm: ${warm.rss.toFixed(0)} MiB)`,
    );
    console.log(`idle RSS, embedded PostgreSQL:      ${first.pgRss.toFixed(0)} MiB (all its processes)`);
    console.log(`graceful stop (SIGTERM to exit):    ${f(first.stopMs)} ms / ${f(warm.stopMs)} ms`);
    // The targets of BENCHMARKS.md: `npm start` on a clean clone (build, then first start) under 20 s,
    // a warm start under 5 s, a graceful stop under 10 s.
    return {
      rows: [
        row('build (npm run build, tsc)', buildMs, 'ms'),
        row('first start to /readyz 200 (initdb + migrations)', first.readyMs, 'ms'),
        row('build + first start (npm start on a clean clone, at most)', buildMs + first.readyMs, 'ms', {
          target: { below: 20_000 },
        }),
        row('warm start to /readyz 200', warm.readyMs, 'ms', { target: { below: 5_000 } }),
        row('idle RSS, server process (first start)', first.rss, 'MiB'),
        row('idle RSS, server process (warm start)', warm.rss, 'MiB'),
        row('idle RSS, embedded PostgreSQL (all its processes)', first.pgRss, 'MiB'),
        row('graceful stop, first start (SIGTERM to exit)', first.stopMs, 'ms', {
          target: { below: 10_000 },
        }),
        row('graceful stop, warm start', warm.stopMs, 'ms', { target: { below: 10_000 } }),
      ],
    };
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
}
