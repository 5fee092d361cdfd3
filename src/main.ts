import cluster from 'node:cluster';
import type { Logger } from 'pino';
import { signToken } from './auth/tokens.js';
import {
  gatherSpools,
  hostMetrics,
  startPrimary,
  tellPrimary,
  workerAssignment,
  workerConfig,
} from './cluster.js';
import { type Config, ConfigError, loadProcessConfig } from './config.js';
import { createProcessLogger } from './observability/logger.js';
import { startServer } from './server.js';
import { formatStartupSummary, type StartupInfo, startupFacts } from './startup-summary.js';

/** Graceful shutdown must finish within this, or the process exits non-zero. */
const SHUTDOWN_TIMEOUT_MS = 10_000;
/** A cluster primary gives its workers their own shutdown's time and a little more before killing them. */
const WORKER_SHUTDOWN_MS = SHUTDOWN_TIMEOUT_MS + 2_000;

function loadConfigOrExit(): Config {
  try {
    return loadProcessConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`configuration error: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

/**
 * On SIGTERM, SIGINT or SIGHUP (a closed terminal must not leave PostgreSQL running), runs `close` once
 * and exits with its code; past SHUTDOWN_TIMEOUT_MS, exits 1. `stopping` tells whether a signal came.
 */
function closeOnSignals(log: Logger, close: () => Promise<number>, timeoutMs: number): { stopping: boolean } {
  const state = { stopping: false };
  const stop = (signal: string) => {
    if (state.stopping) return;
    state.stopping = true;
    log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      log.error('shutdown did not finish in time; exiting');
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    close().then(
      (code) => {
        if (code === 0) log.info('shut down cleanly');
        process.exit(code);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => stop('SIGHUP'));
  return state;
}

/** The summary (development) or the 'server listening' line with its facts (production), once. */
async function announce(log: Logger, info: StartupInfo, signals: { stopping: boolean }): Promise<void> {
  if (info.config.nodeEnv === 'production') {
    // Production's stdout is JSON lines only: the summary's facts are fields of the one line.
    log.info(startupFacts(info), 'server listening');
    return;
  }
  // Earlier lines first (pino-pretty writes from a worker), then the summary, then the line tests wait for.
  await new Promise<void>((resolve) => log.flush(() => resolve()));
  if (signals.stopping) return; // signalled meanwhile: no summary of a server going away
  process.stdout.write(formatStartupSummary(info));
  log.info({ url: info.url }, 'server listening');
}

/** WEB_CONCURRENCY=1: this process is the server, as it always was. */
async function serveAlone(config: Config): Promise<void> {
  const log = createProcessLogger(config);
  await gatherSpools(config.spoolDir, 1, log); // left by a run with several workers
  const app = await startServer(config, { logger: log });
  // Before the line that says it listens: whoever waits for that line may signal at once.
  const signals = closeOnSignals(log, () => app.close().then(() => 0), SHUTDOWN_TIMEOUT_MS);
  const info: StartupInfo = {
    url: app.url,
    config,
    devToken: app.devToken,
    database: app.database,
    cwd: process.cwd(),
  };
  await announce(log, info, signals);
}

/** The cluster primary (src/cluster.ts): PostgreSQL, the workers, and the one summary. */
async function serveAsPrimary(config: Config): Promise<void> {
  const log = createProcessLogger(config);
  const primary = await startPrimary(config, log, { workerShutdownMs: WORKER_SHUTDOWN_MS });
  // Its workers' graceful close, then PostgreSQL's stop, within the timeout: only then is it given up.
  const signals = closeOnSignals(log, primary.close, WORKER_SHUTDOWN_MS + SHUTDOWN_TIMEOUT_MS);
  // Given up on workers that keep dying: the primary has closed itself.
  void primary.done.then((code) => {
    if (!signals.stopping) process.exit(code);
  });
  const info: StartupInfo = {
    url: primary.url,
    config,
    devToken: config.auth.kind === 'dev' ? await signToken(config.auth.secret) : null,
    database: primary.database.info,
    cwd: process.cwd(),
    workers: primary.workers,
  };
  await announce(log, info, signals);
}

/** A cluster worker: a replica with the primary's database, reporting to it when it listens or fails. */
async function serveAsWorker(config: Config): Promise<void> {
  const assignment = await workerAssignment();
  const log = createProcessLogger(config).child({ worker: assignment.index });
  let app: Awaited<ReturnType<typeof startServer>>;
  try {
    app = await startServer(workerConfig(config, assignment), {
      logger: log,
      worker: { index: assignment.index, poolSize: assignment.poolSize, metrics: hostMetrics },
    });
  } catch (err) {
    // The primary prints it, once, as the whole start's failure (or logs it when restarting this worker).
    await tellPrimary({ type: 'idm:failed', message: messageOf(err) });
    process.exit(1);
  }
  closeOnSignals(log, () => app.close().then(() => 0), SHUTDOWN_TIMEOUT_MS);
  await tellPrimary({ type: 'idm:listening', url: app.url });
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  if (cluster.isWorker) return serveAsWorker(config);
  if (config.webConcurrency > 1) return serveAsPrimary(config);
  return serveAlone(config);
}

main().catch((err: unknown) => {
  process.stderr.write(`start-up failed: ${messageOf(err)}\n`);
  process.exit(1);
});
