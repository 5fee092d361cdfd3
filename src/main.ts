import { ConfigError, loadProcessConfig } from './config.js';
import { createProcessLogger } from './observability/logger.js';
import { startServer } from './server.js';
import { formatStartupSummary, type StartupInfo, startupFacts } from './startup-summary.js';

/** Graceful shutdown must finish within this, or the process exits non-zero. */
const SHUTDOWN_TIMEOUT_MS = 10_000;

async function main(): Promise<void> {
  let config: ReturnType<typeof loadProcessConfig>;
  try {
    config = loadProcessConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`configuration error: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const log = createProcessLogger(config);
  const app = await startServer(config, { logger: log });
  // Before the line that says it listens: whoever waits for that line may signal at once.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      log.error('shutdown did not finish in time; exiting');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    app.close().then(
      () => {
        log.info('shut down cleanly');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => stop('SIGHUP')); // a closed terminal must not leave PostgreSQL running

  const info: StartupInfo = {
    url: app.url,
    config,
    devToken: app.devToken,
    database: app.database,
    cwd: process.cwd(),
  };
  if (config.production) {
    // Production's stdout is JSON lines only: the summary's facts are fields of the one line.
    log.info(startupFacts(info), 'server listening');
  } else {
    // Earlier lines first (pino-pretty writes from a worker), then the summary, then the line tests wait for.
    await new Promise<void>((resolve) => log.flush(() => resolve()));
    if (stopping) return; // signalled meanwhile: no summary of a server going away
    process.stdout.write(formatStartupSummary(info));
    log.info({ url: app.url }, 'server listening');
  }
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`start-up failed: ${message}\n`);
  process.exit(1);
});
