import path from 'node:path';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { createDataSource, migrate } from './data-source.js';
import { type EmbeddedPostgres, startEmbeddedPostgres } from './embedded-postgres.js';

export interface Database {
  dataSource: DataSource;
  /** The connection string in use (embedded or DATABASE_URL). */
  url: string;
  embedded: EmbeddedPostgres | null;
  /** Closes the pool, then stops the embedded server if this process started it. */
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  databaseUrl: string | null;
  dataDir: string;
  log: Logger;
  poolSize?: number;
}

/** Connects (starting embedded PostgreSQL when no URL is given) and applies pending migrations. */
export async function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  const embedded =
    opts.databaseUrl === null
      ? await startEmbeddedPostgres({ dir: path.join(opts.dataDir, 'pg'), log: (msg) => opts.log.info(msg) })
      : null;
  const url = opts.databaseUrl ?? (embedded as EmbeddedPostgres).url;
  const dataSource = createDataSource({ url, ...(opts.poolSize ? { poolSize: opts.poolSize } : {}) });
  try {
    await dataSource.initialize();
    const applied = await migrate(dataSource);
    if (applied.length) opts.log.info({ migrations: applied }, 'applied migrations');
  } catch (err) {
    if (dataSource.isInitialized) await dataSource.destroy();
    await embedded?.stop();
    throw err;
  }
  return {
    dataSource,
    url,
    embedded,
    async close() {
      if (dataSource.isInitialized) await dataSource.destroy();
      await embedded?.stop();
    },
  };
}
