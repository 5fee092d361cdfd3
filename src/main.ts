import { ConfigError, loadProcessConfig } from './config.js';
import { createProcessLogger } from './http/logger.js';
import { startServer } from './server.js';

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
  log.info({ url: app.url }, 'server listening');
  if (app.devToken) {
    process.stdout.write(
      `\nDevelopment admin token (all scopes; signed with the development secret in .data/dev-secrets.json, so it keeps working after a restart):\n\n${app.devToken}\n\n` +
        `Try: curl -s ${app.url}/graphql -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" ` +
        `-d '{"query":"{ riskSummary { total } }"}'\n\n`,
    );
  }

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
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`start-up failed: ${message}\n`);
  process.exit(1);
});
