import cluster, { type Worker } from 'node:cluster';
import { mkdir, open, readdir, rename, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import {
  AggregatorRegistry,
  type MetricObjectWithValues,
  type MetricValue,
  type Registry,
} from 'prom-client';
import type { Config } from './config.js';
import { DEFAULT_POOL_SIZE } from './db/data-source.js';
import { type Database, openDatabase } from './db/database.js';

/**
 * WEB_CONCURRENCY > 1 (docs/adr/0015-cluster.md): a node:cluster primary prepares PostgreSQL once
 * (starts the embedded one, migrates), then forks that many workers, each a replica running
 * startServer on the port they share. The primary serves nothing; it restarts a worker that dies, and
 * on SIGTERM stops them all before stopping the PostgreSQL it started.
 */

/** What the primary tells a worker when it asks (over IPC: the database URL holds a password). */
export interface WorkerAssignment {
  /** 1 to WEB_CONCURRENCY, kept by a restarted worker: its spool subdirectory is its predecessor's. */
  index: number;
  poolSize: number;
  /** The primary's resolved database: the embedded server it started, or DATABASE_URL. */
  databaseUrl: string;
  /** The development API secret (base64): a random one exists only in the primary's memory. */
  authSecret: string | null;
}

type Metrics = MetricObjectWithValues<MetricValue<string>>[];
type ToWorker =
  | { type: 'idm:start'; assignment: WorkerAssignment }
  /** Send your metrics for collection `id`. */
  | { type: 'idm:collect'; id: number }
  /** Every worker's metrics, for the /metrics request `id`. */
  | { type: 'idm:metrics'; id: number; text: string };
type ToPrimary =
  | { type: 'idm:ask' }
  | { type: 'idm:listening'; url: string }
  | { type: 'idm:failed'; message: string }
  | { type: 'idm:metrics-request'; id: number }
  | { type: 'idm:collected'; id: number; metrics: Metrics };

/** Each worker's share of the connections one process would open, but never fewer than it needs at once. */
export function workerPoolSize(workers: number): number {
  return Math.max(MIN_WORKER_POOL, Math.ceil(DEFAULT_POOL_SIZE / workers));
}
/** A webhook commit, a feed catch-up read, a GraphQL query and the retention job at the same moment. */
const MIN_WORKER_POOL = 4;

/** Deaths within CRASH_WINDOW_MS after which the primary stops restarting workers and exits 1. */
const CRASH_LIMIT = 5;
const CRASH_WINDOW_MS = 30_000;
/** The first restart waits this long, each further one within the window twice as long, up to the cap. */
const RESTART_DELAY_MS = 250;
const RESTART_DELAY_CAP_MS = 8_000;
const DISCONNECT_WAIT_MS = 1_000;

/** The directory worker `index` spools into. */
export function workerSpoolDir(spoolDir: string, index: number): string {
  return path.join(spoolDir, `worker-${index}`);
}

/** The configuration a worker runs with: the primary's database and secret, its own spool subdirectory. */
export function workerConfig(config: Config, a: WorkerAssignment): Config {
  const auth: Config['auth'] =
    config.auth.kind === 'dev' && a.authSecret !== null
      ? { ...config.auth, secret: new Uint8Array(Buffer.from(a.authSecret, 'base64')) }
      : config.auth;
  return { ...config, databaseUrl: a.databaseUrl, spoolDir: workerSpoolDir(config.spoolDir, a.index), auth };
}

/** Sends a message to the primary, resolving once it is handed to the IPC channel. */
export function tellPrimary(message: ToPrimary): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error('not a cluster worker'));
    process.send(message, undefined, {}, (err) => (err ? reject(err) : resolve()));
  });
}

/**
 * Asks the primary for this worker's assignment. Asked rather than pushed at fork: a message that
 * arrives before the listener is attached (while modules load) would be lost.
 */
export function workerAssignment(): Promise<WorkerAssignment> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown) => {
      const message = m as ToWorker | null;
      if (message?.type !== 'idm:start') return;
      process.off('message', onMessage);
      resolve(message.assignment);
    };
    process.on('message', onMessage);
    tellPrimary({ type: 'idm:ask' }).catch(reject);
  });
}

/** How long the primary waits for the workers' metrics: one that has not answered by then is left out. */
const COLLECT_TIMEOUT_MS = 2_000;

/**
 * In a worker: answers the primary's collections from `own`, and returns what its /metrics serves:
 * every listening worker's metrics, each series labelled with its `worker`, so that a scrape of the
 * shared port sees the whole host, and a worker's restart is a reset of its own series only.
 */
export function hostMetrics(own: Registry): () => Promise<string> {
  const pending = new Map<number, (text: string) => void>();
  let next = 0;
  process.on('message', (m: ToWorker) => {
    if (m?.type === 'idm:collect') {
      void own
        .getMetricsAsJSON()
        .then((metrics) => tellPrimary({ type: 'idm:collected', id: m.id, metrics }))
        .catch(() => undefined); // left out of that collection
    } else if (m?.type === 'idm:metrics') {
      pending.get(m.id)?.(m.text);
      pending.delete(m.id);
    }
  });
  return () =>
    new Promise((resolve, reject) => {
      const id = next++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error('the cluster primary did not answer with the metrics'));
      }, COLLECT_TIMEOUT_MS * 2);
      pending.set(id, (text) => {
        clearTimeout(timer);
        resolve(text);
      });
      tellPrimary({ type: 'idm:metrics-request', id }).catch(reject);
    });
}

/** The workers' metrics as one exposition, each value labelled with its worker's index. */
function mergeMetrics(byWorker: { index: number; metrics: Metrics }[]): Promise<string> {
  const labelled = byWorker.map(({ index, metrics }) =>
    metrics.map((metric) => ({
      ...metric,
      // Each value is its worker's own (labels differ): summing one value keeps it, where prom-client's
      // defaults would average or omit some (process_start_time_seconds).
      aggregator: 'sum' as const,
      values: metric.values.map((v) => ({ ...v, labels: { ...v.labels, worker: String(index) } })),
    })),
  );
  return AggregatorRegistry.aggregate(labelled).metrics();
}

/**
 * Moves spooled deliveries no worker of this run would drain into one that will: with one process,
 * those of every `worker-<k>` subdirectory into SPOOL_DIR itself; with N workers, those of SPOOL_DIR
 * itself (a run with one process) and of `worker-<k>` for k > N (a run with more workers) into
 * `worker-1`. Records keep their names, which sort in arrival order; `failed/` moves along.
 */
export async function gatherSpools(spoolDir: string, workers: number, log: Logger): Promise<void> {
  const target = workers === 1 ? spoolDir : workerSpoolDir(spoolDir, 1);
  const entries = await readdir(spoolDir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    // None yet, or not a directory: the spool's own start-up step says so.
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return [];
    throw err;
  });
  const sources = entries
    .filter(
      (e) => e.isDirectory() && Number(/^worker-(\d+)$/.exec(e.name)?.[1]) > (workers === 1 ? 0 : workers),
    )
    .map((e) => path.join(spoolDir, e.name));
  if (workers > 1) sources.unshift(spoolDir);
  for (const source of sources) {
    const tag = path.basename(source);
    const moved =
      (await moveRecords(source, target, tag)) +
      (await moveRecords(path.join(source, 'failed'), path.join(target, 'failed'), tag));
    if (moved > 0) log.info({ from: source, to: target, files: moved }, 'moved spooled deliveries');
    if (source !== spoolDir) {
      // Emptied: gone, so no one wonders whose it is. Anything left (a torn .tmp) keeps it.
      await rmdir(path.join(source, 'failed')).catch(() => undefined);
      await rmdir(source).catch(() => undefined);
    }
  }
}

/**
 * Renames each spooled record of `from` into `to`, then fsyncs both directories. Never over another
 * record: one of the same name (a PID reused at the same millisecond) gets `-<tag>` before `.json`.
 */
async function moveRecords(from: string, to: string, tag: string): Promise<number> {
  const names = (await readdir(from).catch(() => [] as string[])).filter(
    (n) => n.endsWith('.json') && !n.startsWith('.'),
  );
  if (names.length === 0) return 0;
  await mkdir(to, { recursive: true });
  let moved = 0;
  for (const name of names) {
    const candidates = [name, name.replace(/\.json$/, `-${tag}.json`)];
    for (const target of candidates) {
      if (await stat(path.join(to, target)).catch(() => null)) continue;
      await rename(path.join(from, name), path.join(to, target));
      moved++;
      break;
    }
  }
  for (const dir of [to, from]) {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
  return moved;
}

interface Slot {
  index: number;
  worker: Worker | null;
  pid: number | null;
  listening: boolean;
  /** What the worker said when its start-up failed. */
  failure: string | null;
  restart: NodeJS.Timeout | null;
}

export interface PrimaryOptions {
  /** How long the workers get to shut down gracefully before they are killed. */
  workerShutdownMs: number;
}

/** The running primary: `url` once every worker listens, `close()` on a signal, `done` with the exit code. */
export interface Primary {
  url: string;
  database: Database;
  workers: number;
  /** Stops every worker (gracefully, then SIGKILL), then the embedded PostgreSQL; resolves the exit code. */
  close(): Promise<number>;
  /** Resolves with the exit code once the primary has stopped: closed, or given up on dying workers. */
  done: Promise<number>;
}

/**
 * Prepares the database, forks config.webConcurrency workers and resolves once each listens. A worker
 * that fails to start fails the whole start: the others are stopped, PostgreSQL too, and the worker's
 * error is thrown.
 */
export async function startPrimary(config: Config, log: Logger, opts: PrimaryOptions): Promise<Primary> {
  const count = config.webConcurrency;
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    log,
    poolSize: 2, // migrate() holds one connection for its lock while the migrations run on another
  });
  // Migrated now; the workers open pools of their own and the primary queries nothing.
  await database.dataSource.destroy();
  const assignment = (index: number): WorkerAssignment => ({
    index,
    poolSize: workerPoolSize(count),
    databaseUrl: database.url,
    authSecret: config.auth.kind === 'dev' ? Buffer.from(config.auth.secret).toString('base64') : null,
  });

  const slots: Slot[] = Array.from({ length: count }, (_, i) => ({
    index: i + 1,
    worker: null,
    pid: null,
    listening: false,
    failure: null,
    restart: null,
  }));
  let phase: 'starting' | 'running' | 'stopping' = 'starting';
  let url = '';
  let exitCode = 0;
  const deaths: number[] = [];
  let startup: { resolve: () => void; reject: (err: Error) => void } | null = null;
  const allListening = new Promise<void>((resolve, reject) => {
    startup = { resolve, reject };
  });
  let onAllExited: () => void = () => undefined;
  // Collections of the workers' metrics under way, each for one worker's /metrics request.
  const collections = new Map<
    number,
    { waiting: Set<number>; got: { index: number; metrics: Metrics }[]; finish: () => void }
  >();
  let nextCollection = 0;
  const collect = (asker: Worker, requestId: number) => {
    const id = nextCollection++;
    const listening = slots.filter((s) => s.listening && s.worker);
    const got: { index: number; metrics: Metrics }[] = [];
    const finish = () => {
      if (!collections.delete(id)) return;
      clearTimeout(timer);
      void mergeMetrics(got.sort((a, b) => a.index - b.index)).then(
        (text) =>
          asker.isConnected() && asker.send({ type: 'idm:metrics', id: requestId, text } satisfies ToWorker),
        (err: unknown) => log.error({ err }, "could not merge the workers' metrics"),
      );
    };
    const timer = setTimeout(finish, COLLECT_TIMEOUT_MS);
    collections.set(id, { waiting: new Set(listening.map((s) => s.index)), got, finish });
    for (const s of listening) s.worker?.send({ type: 'idm:collect', id } satisfies ToWorker);
  };
  const collected = (slot: Slot, id: number, metrics: Metrics | null) => {
    const c = collections.get(id);
    if (!c?.waiting.delete(slot.index)) return;
    if (metrics) c.got.push({ index: slot.index, metrics });
    if (c.waiting.size === 0) c.finish();
  };

  const fork = (slot: Slot) => {
    slot.restart = null;
    slot.failure = null;
    slot.listening = false;
    const worker = cluster.fork();
    slot.worker = worker;
    slot.pid = worker.process.pid ?? null;
    // A send to a worker that has just died fails here; its exit is handled below.
    worker.on('error', (err) => log.debug({ err, worker: slot.index }, 'worker channel error'));
    worker.on('message', (m: ToPrimary) => {
      if (m?.type === 'idm:ask') {
        worker.send({ type: 'idm:start', assignment: assignment(slot.index) } satisfies ToWorker);
      } else if (m?.type === 'idm:failed') {
        slot.failure = m.message;
      } else if (m?.type === 'idm:metrics-request') {
        collect(worker, m.id);
      } else if (m?.type === 'idm:collected') {
        collected(slot, m.id, m.metrics);
      } else if (m?.type === 'idm:listening') {
        slot.listening = true;
        url ||= m.url;
        if (phase === 'starting' && slots.every((s) => s.listening)) startup?.resolve();
        if (phase === 'running') log.info({ worker: slot.index, pid: slot.pid }, 'worker restarted');
      }
    });
    // Handled once its channel is closed too: a failure it reported just before exiting is read by then.
    // node:cluster never closes it for a worker that died while being handed a connection: a second at most.
    const disconnect = new Promise<void>((resolve) => worker.once('disconnect', () => resolve()));
    worker.once('exit', (code: number | null, signal: string | null) => {
      void Promise.race([disconnect, sleep(DISCONNECT_WAIT_MS)]).then(() =>
        exited(slot, worker, code, signal),
      );
    });
  };

  const exited = (slot: Slot, worker: Worker, code: number | null, signal: string | null) => {
    if (slot.worker !== worker) return;
    slot.worker = null;
    for (const id of [...collections.keys()]) collected(slot, id, null);
    const wasListening = slot.listening;
    slot.listening = false;
    if (phase === 'stopping') {
      // One still starting is killed by the SIGTERM; one listening closes gracefully and exits 0.
      if (wasListening && code !== 0) exitCode = 1;
      if (slots.every((s) => s.worker === null)) onAllExited();
      return;
    }
    const how = slot.failure ?? `exited with ${signal ? `signal ${signal}` : `code ${code}`}`;
    if (phase === 'starting') {
      startup?.reject(new Error(`worker ${slot.index}: ${how}`));
      return;
    }
    const now = Date.now();
    deaths.push(now);
    while (deaths.length > 0 && (deaths[0] ?? now) < now - CRASH_WINDOW_MS) deaths.shift();
    const fields = {
      worker: slot.index,
      pid: slot.pid,
      code,
      signal,
      ...(slot.failure ? { reason: slot.failure } : {}),
    };
    if (deaths.length >= CRASH_LIMIT) {
      log.error(
        fields,
        `${CRASH_LIMIT} worker exits within ${CRASH_WINDOW_MS / 1000} s; stopping instead of restarting again`,
      );
      exitCode = 1;
      void close();
      return;
    }
    const delay = Math.min(RESTART_DELAY_MS * 2 ** (deaths.length - 1), RESTART_DELAY_CAP_MS);
    log.warn(
      { ...fields, restartInMs: delay },
      wasListening ? 'worker exited; restarting it' : 'worker failed to start; restarting it',
    );
    slot.restart = setTimeout(() => fork(slot), delay);
  };

  let finish: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => {
    finish = resolve;
  });
  let closing: Promise<number> | null = null;
  const close = (): Promise<number> => {
    closing ??= (async () => {
      phase = 'stopping';
      const allExited = new Promise<void>((resolve) => {
        onAllExited = resolve;
      });
      for (const slot of slots) {
        if (slot.restart) clearTimeout(slot.restart);
        slot.restart = null;
        // A signal, not worker.kill(): that disconnects first, and the worker's own graceful close
        // (the same as a single process's on SIGTERM) is what must run.
        slot.worker?.process.kill('SIGTERM');
      }
      if (slots.some((s) => s.worker !== null)) {
        const timer = setTimeout(() => {
          log.error('workers did not shut down in time; killing them');
          exitCode = 1;
          for (const slot of slots) slot.worker?.process.kill('SIGKILL');
        }, opts.workerShutdownMs);
        await allExited;
        clearTimeout(timer);
      }
      try {
        await database.close();
      } catch (err) {
        log.error({ err }, 'could not stop the embedded PostgreSQL');
        exitCode = 1;
      }
      finish(exitCode);
      return exitCode;
    })();
    return closing;
  };

  try {
    await gatherSpools(config.spoolDir, count, log);
    for (const slot of slots) fork(slot);
    await allListening;
  } catch (err) {
    await close();
    throw err;
  }
  phase = 'running';
  log.info({ workers: slots.map((s) => ({ worker: s.index, pid: s.pid })) }, `${count} workers listening`);
  return { url, database, workers: count, close, done };
}
