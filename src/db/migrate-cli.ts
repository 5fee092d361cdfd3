/** `npm run migrate`: applies pending migrations (under the advisory lock) without starting the server. */
import { ConfigError, loadProcessConfig } from '../config.js';
import { createProcessLogger } from '../observability/logger.js';
import { openDatabase } from './database.js';

try {
  const config = loadProcessConfig();
  const log = createProcessLogger(config);
  const db = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    log,
    poolSize: 2,
  });
  await db.close();
  log.info('migrations are up to date');
} catch (err) {
  const prefix = err instanceof ConfigError ? 'configuration error' : 'migration failed';
  process.stderr.write(`${prefix}: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
