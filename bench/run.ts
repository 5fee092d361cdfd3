/**
 * `npm run bench`: every benchmark (startup, ingest, ingest-sql, graphql, graphql-live, feed, enroll),
 * one after the other, each in a process of its own; then a dated section with their figures, each
 * beside its baseline or target, appended to BENCHMARKS.md. A benchmark that fails is recorded as failed, the
 * others' figures are kept, and the run exits non-zero.
 * `npm run bench -- <name>...` runs those only, and prints without recording unless given `--record`.
 * Each benchmark's own knobs (BENCH_DURATION, …) are in the comment at its top.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { STARTER_SETTING } from '../src/db/postmaster.js';
import { cpuProbeMs, fsyncMicros, stopStarted } from './lib.js';
import {
  type BenchOutcome,
  type BenchReport,
  type MachineProbe,
  type RunRecord,
  renderRun,
} from './report.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const RECORD_FILE = path.resolve(here, '../../BENCHMARKS.md');
/** In this order: the start-up figures first, on a machine nothing of ours has warmed yet. */
const BENCHMARKS = ['startup', 'ingest', 'ingest-sql', 'graphql', 'graphql-live', 'feed', 'enroll'] as const;
/** Where a child process run by the parent writes its outcome (not for use by hand). */
const OUTCOME_FLAG = '--outcome-file=';

async function runHere(name: string): Promise<BenchReport> {
  const mod = (await import(`./${name}.js`)) as { run: () => Promise<BenchReport> };
  try {
    return await mod.run();
  } finally {
    // A benchmark that failed half-way may have left a server or cluster running.
    await stopStarted();
  }
}

// The message only: the stack has gone to the console, the record wants what went wrong.
const message = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

interface Proc {
  pid: number;
  pgrp: number;
  state: string;
  argv: string[];
}

async function processInfo(pid: number): Promise<Proc | null> {
  try {
    const [stat, cmdline] = await Promise.all([
      readFile(`/proc/${pid}/stat`, 'utf8'),
      readFile(`/proc/${pid}/cmdline`, 'utf8'),
    ]);
    // After the parenthesised command: state(3) ppid(4) pgrp(5).
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, state: rest[0] ?? '', pgrp: Number(rest[2]), argv: cmdline.split('\0') };
  } catch {
    return null; // gone meanwhile
  }
}

async function processes(): Promise<Proc[]> {
  const pids = (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).map(Number);
  return (await Promise.all(pids.map(processInfo))).filter((p) => p !== null);
}

/** Running, not a zombie (which an init that does not reap would keep in the table forever). */
const running = async (pid: number) => {
  const p = await processInfo(pid);
  return p !== null && p.state !== 'Z';
};

/**
 * What a finished benchmark process left running: processes of its process group (servers it spawned)
 * and PostgreSQL clusters it started (their postmaster, detached by pg_ctl, names its starter). Each is
 * stopped by its PID, politely first; returns what was found, for the record.
 */
async function stopLeftovers(benchPid: number): Promise<string[]> {
  const all = await processes();
  const group = all.filter((p) => p.pgrp === benchPid && p.state !== 'Z');
  const postmasters = all.filter(
    (p) => path.basename(p.argv[0] ?? '') === 'postgres' && p.argv.includes(`${STARTER_SETTING}=${benchPid}`),
  );
  if (group.length + postmasters.length === 0) return [];
  const kill = (pid: number, signal: NodeJS.Signals) => {
    try {
      process.kill(pid, signal);
    } catch {
      // gone already
    }
  };
  // SIGINT is PostgreSQL's fast shutdown; SIGTERM our servers' graceful one.
  for (const p of postmasters) kill(p.pid, 'SIGINT');
  for (const p of group) kill(p.pid, 'SIGTERM');
  const pids = [...group, ...postmasters].map((p) => p.pid);
  const stillRunning = async () => (await Promise.all(pids.map(running))).some(Boolean);
  for (let i = 0; i < 300 && (await stillRunning()); i++) await sleep(100);
  for (const pid of pids) if (await running(pid)) kill(pid, 'SIGKILL');
  // startCluster's temporary directory (…/idm-bench-*/pg), which its stop() would have removed.
  for (const p of postmasters) {
    const dataDir = p.argv[p.argv.indexOf('-D') + 1] ?? '';
    const dir = path.dirname(dataDir);
    if (path.dirname(dir) === os.tmpdir() && path.basename(dir).startsWith('idm-bench-'))
      await rm(dir, { recursive: true, force: true });
  }
  const found = [
    ...(group.length
      ? [`${group.length} process(es) it spawned (${group.map((p) => p.pid).join(', ')})`]
      : []),
    ...(postmasters.length ? [`${postmasters.length} PostgreSQL cluster(s) it started`] : []),
  ];
  console.warn(`bench: ${found.join(' and ')} left running after it ended; stopped`);
  return found;
}

let current: ChildProcess | null = null;
let interrupted: NodeJS.Signals | null = null;

/** One benchmark in a process of its own, so that none inherits another's heap, handles or servers. */
async function runInChild(name: string, dir: string): Promise<BenchOutcome> {
  const file = path.join(dir, `${name}.json`);
  const started = performance.now();
  // Its own process group: the servers it spawns are found by it once it has ended.
  const child = spawn(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), name, OUTCOME_FLAG + file],
    {
      stdio: 'inherit',
      detached: true,
    },
  );
  current = child;
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  current = null;
  const leftovers = child.pid === undefined ? [] : await stopLeftovers(child.pid);
  const seconds = (performance.now() - started) / 1000;
  const written = await readFile(file, 'utf8').then(
    (text) => JSON.parse(text) as { report: BenchReport } | { error: string },
    () => null,
  );
  const left = leftovers.length ? `left running after it ended, and stopped: ${leftovers.join('; ')}` : null;
  if (written && 'report' in written && exit.code === 0) {
    const report = written.report;
    if (left) report.notes = [...(report.notes ?? []), left];
    return { name, seconds, report };
  }
  const error =
    written && 'error' in written
      ? written.error
      : `its process exited with ${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`} and no report`;
  return { name, seconds, error: left ? `${error}\n(${left})` : error };
}

/** Cores, CPU model, memory, Node, and the disk and CPU probes, taken now. */
async function machine(): Promise<RunRecord['machine']> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'idm-bench-probe-'));
  try {
    const probe: MachineProbe = { fsyncMicros: fsyncMicros(dir), cpuProbeMs: cpuProbeMs() };
    const cpus = os.cpus();
    return {
      cores: cpus.length,
      model: cpus[0]?.model.trim() ?? 'unknown',
      memoryBytes: os.totalmem(),
      node: process.version,
      probe,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Appends, never rewriting what is there; a blank line first unless the file ends with one. */
async function appendSection(text: string): Promise<void> {
  const was = await readFile(RECORD_FILE, 'utf8');
  const sep = was === '' || was.endsWith('\n\n') ? '' : was.endsWith('\n') ? '\n' : '\n\n';
  await appendFile(RECORD_FILE, sep + text);
}

const args = process.argv.slice(2);
const outcomeFile = args.find((a) => a.startsWith(OUTCOME_FLAG))?.slice(OUTCOME_FLAG.length) ?? null;
const names = args.filter((a) => !a.startsWith('--'));
for (const a of args)
  if (a.startsWith('--') && a !== '--record' && !a.startsWith(OUTCOME_FLAG))
    throw new Error(`unknown option ${a}`);
for (const n of names)
  if (!(BENCHMARKS as readonly string[]).includes(n))
    throw new Error(`unknown benchmark ${n}; there are ${BENCHMARKS.join(', ')}`);

if (outcomeFile !== null) {
  // A child of the run below: one benchmark, its outcome to the file, and an exit even if some handle
  // (a socket, a timer) of a failed benchmark would keep the process alive.
  const name = names[0] as string;
  try {
    await writeFile(outcomeFile, JSON.stringify({ report: await runHere(name) }));
    process.exit(0);
  } catch (err) {
    console.error(err);
    await writeFile(outcomeFile, JSON.stringify({ error: message(err) }));
    process.exit(1);
  }
}

const record = names.length === 0 || args.includes('--record');
if (names.length === 1 && !record) {
  // One benchmark, as ever: in this process, its output only.
  await runHere(names[0] as string);
} else {
  const startedAt = new Date();
  const t0 = performance.now();
  const info = await machine();
  const todo = names.length ? names : [...BENCHMARKS];
  const dir = await mkdtemp(path.join(os.tmpdir(), 'idm-bench-run-'));
  const forward = (signal: NodeJS.Signals) => {
    interrupted = signal;
    if (current?.pid !== undefined) process.kill(current.pid, signal);
  };
  process.on('SIGINT', forward).on('SIGTERM', forward);
  const outcomes: BenchOutcome[] = [];
  try {
    for (const [i, name] of todo.entries()) {
      if (interrupted) {
        outcomes.push({ name, seconds: 0, error: `not run: the run was interrupted (${interrupted})` });
        continue;
      }
      console.log(`\n=== bench ${i + 1}/${todo.length}: ${name} ===`);
      const outcome = await runInChild(name, dir);
      outcomes.push(outcome);
      console.log(
        `=== ${name}: ${'error' in outcome ? 'FAILED' : 'done'} in ${outcome.seconds.toFixed(1)} s ===`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const knobs = Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_'))
    .map(([k, v]) => `${k}=${v}`)
    .sort();
  const title = `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`;
  const section = renderRun({
    startedAt,
    command: [...knobs, title].join(' '),
    title,
    seconds: (performance.now() - t0) / 1000,
    machine: info,
    outcomes,
  });
  if (record) {
    await appendSection(section);
    console.log(`\nappended to ${RECORD_FILE}:\n\n${section}`);
  } else {
    console.log(`\n${section}`);
  }
  const failed = outcomes.filter((o) => 'error' in o).map((o) => o.name);
  if (failed.length) {
    console.error(`bench: failed: ${failed.join(', ')}`);
    process.exitCode = 1;
  }
}
