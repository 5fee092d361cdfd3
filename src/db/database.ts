import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { createDataSource, migrateSchema } from './data-source.js';
import { type EmbeddedPostgres, startEmbeddedPostgres } from './embedded-postgres.js';

/** Which PostgreSQL is in use, as start-up tells it: never a password. */
export type DatabaseInfo =
  | { kind: 'embedded'; port: number; dataDir: string }
  /** DATABASE_URL with its password removed. */
  | { kind: 'external'; url: string };

export interface Database {
  dataSource: DataSource;
  /** The connection string in use (embedded or DATABASE_URL). */
  url: string;
  embedded: EmbeddedPostgres | null;
  info: DatabaseInfo;
  /** Closes the pool, then stops the embedded server if this process started it. */
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  databaseUrl: string | null;
  dataDir: string;
  log: Logger;
  poolSize?: number;
  /** False: the schema is known to be migrated (a cluster worker: its primary migrated). */
  migrate?: boolean;
}

/** PostgreSQL could not be started or reached; the message is one line naming which and why. */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
}

/** The connection string without its password (in the userinfo or a `password` parameter). */
export function withoutPassword(url: string): string {
  const u = new URL(url);
  u.password = '';
  if (u.searchParams.has('password')) u.searchParams.set('password', '');
  return u.toString();
}

/** host:port/database of a connection string, the parts a person checks first. */
function address(url: string): string {
  const u = new URL(url);
  const host = u.hostname || u.searchParams.get('host') || 'localhost';
  return `${host}:${u.port || '5432'}${u.pathname === '/' ? '' : u.pathname}`;
}

/** The driver's reason in one line, without the password should it ever quote the URL. */
function reasonOf(err: unknown, url: string | null): string {
  let reason: string;
  if (err instanceof AggregateError && err.errors.length > 0) {
    // Node's connect to a name with several addresses fails with one error per address, and no message.
    reason = [...new Set(err.errors.map((e) => (e instanceof Error ? e.message : String(e))))].join('; ');
  } else {
    // A failed pg_ctl or initdb: its own words on stderr say more than "Command failed: <command line>".
    const stderr = (err as { stderr?: unknown } | null)?.stderr;
    reason =
      typeof stderr === 'string' && stderr.trim() !== ''
        ? stderr
        : err instanceof Error
          ? err.message || String((err as { code?: unknown }).code ?? err.name)
          : String(err);
  }
  reason = reason
    .trim()
    .split(/\s*\n\s*/)
    .join('; ');
  const password = url === null ? '' : decodeURIComponent(new URL(url).password);
  return password ? reason.replaceAll(password, '***') : reason;
}

/**
 * The last FATAL/PANIC line the embedded server wrote to its log after `offset` (pg_ctl itself says
 * only "could not start server; Examine the log output"). Null when it wrote none.
 */
async function serverLogReason(file: string, offset: number): Promise<string | null> {
  const handle = await open(file, 'r').catch(() => null);
  if (!handle) return null;
  try {
    const { size } = await handle.stat();
    const length = Math.min(size - offset, 64 * 1024);
    if (length <= 0) return null;
    const buf = Buffer.alloc(length);
    await handle.read(buf, 0, length, size - length);
    const fatal = buf
      .toString('utf8')
      .split('\n')
      .filter((l) => /\b(FATAL|PANIC):/.test(l))
      .at(-1);
    return fatal ? fatal.slice(fatal.search(/\b(FATAL|PANIC):/)).replace(/\s+/g, ' ') : null;
  } finally {
    await handle.close();
  }
}

/** Connects (starting embedded PostgreSQL when no URL is given) and applies pending migrations. */
export async function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  const pgDir = path.join(opts.dataDir, 'pg');
  let embedded: EmbeddedPostgres | null = null;
  if (opts.databaseUrl === null) {
    const serverLog = path.join(pgDir, 'server.log');
    const logged = (await stat(serverLog).catch(() => null))?.size ?? 0;
    try {
      embedded = await startEmbeddedPostgres({ dir: pgDir, log: (msg) => opts.log.info(msg) });
    } catch (err) {
      const why = await serverLogReason(serverLog, logged);
      throw new DatabaseUnavailableError(
        `cannot start the embedded PostgreSQL (data in ${pgDir}): ${reasonOf(err, null)}` +
          (why ? ` (server.log: ${why})` : ''),
        { cause: err },
      );
    }
  }
  const url = opts.databaseUrl ?? (embedded as EmbeddedPostgres).url;
  const info: DatabaseInfo = embedded
    ? { kind: 'embedded', port: embedded.port, dataDir: pgDir }
    : { kind: 'external', url: withoutPassword(url) };
  const dataSource = createDataSource({ url, ...(opts.poolSize ? { poolSize: opts.poolSize } : {}) });
  try {
    try {
      await dataSource.initialize();
    } catch (err) {
      // Said once here, for `npm start` and `npm run migrate` alike.
      const which = embedded
        ? `the embedded PostgreSQL (data in ${pgDir})`
        : `DATABASE_URL (${address(url)})`;
      throw new DatabaseUnavailableError(`cannot connect to ${which}: ${reasonOf(err, url)}`, { cause: err });
    }
    // A cluster worker's primary migrated already: nothing to do, nor to wait for under the lock.
    const applied =
      opts.migrate === false ? { migrations: [], sqlFiles: [] } : await migrateSchema(dataSource);
    if (applied.migrations.length) opts.log.info({ migrations: applied.migrations }, 'applied migrations');
    if (applied.sqlFiles === null)
      opts.log.warn('the database has migrations this build does not know: sql/ files not applied');
    else if (applied.sqlFiles.length) opts.log.info({ sqlFiles: applied.sqlFiles }, 'applied sql files');
  } catch (err) {
    if (dataSource.isInitialized) await dataSource.destroy();
    await embedded?.stop();
    throw err;
  }
  return {
    dataSource,
    url,
    embedded,
    info,
    async close() {
      if (dataSource.isInitialized) await dataSource.destroy();
      await embedded?.stop();
    },
  };
}
