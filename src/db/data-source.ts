import 'reflect-metadata';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { migrations } from '../../migrations/index.js';
import { acceptColumnTypes, entities } from './entities/index.js';
import { applySqlFiles } from './sql-files.js';

export const MIGRATIONS_TABLE = 'typeorm_migrations';
/** pg_advisory_lock key held while migrating, so replicas starting together take turns. */
const MIGRATION_LOCK_KEY = 7_203_114_001;

/** Connections a process's pool opens at most, unless told otherwise (cluster workers share it out). */
export const DEFAULT_POOL_SIZE = 20;

export interface DataSourceOptions {
  url: string;
  /** Pool size; the pool is shared by webhooks, GraphQL and the feed's catch-up reads. */
  poolSize?: number;
  applicationName?: string;
}

/**
 * A node-postgres client that always has an 'error' listener. PostgreSQL ends a connection with an error
 * message (a fast shutdown, a restart, pg_terminate_backend), which the client emits as 'error'; with no
 * listener that is an uncaught exception and the process dies. pg-pool takes its own listener off a
 * client while it is checked out, leaving it to the holder, and TypeORM's query runner attaches one
 * only between its connect and release, so there are moments with none (a PostgreSQL stop under load
 * killed the server so, once in a few dozen). Nothing is lost by listening: the query in flight
 * rejects by itself, and the pool drops the broken client (TypeORM logs the pool's error).
 */
class ListenedClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    this.on('error', () => undefined);
  }
}

/** Every pool's: a connection that does not come within 5 s is an error; an idle one closes after 30 s. */
const POOL_TIMEOUTS = { connectionTimeoutMillis: 5_000, idleTimeoutMillis: 30_000 } as const;

/** A pool of its own for one kind of statement: what it needs of pg.Pool. */
export interface StatementPool {
  query<T = unknown>(sql: string, params?: unknown[]): Promise<T>;
  end(): Promise<void>;
}

/**
 * A small pool beside the DataSource's, for the group commit's writers alone (src/ingest/commit-queue.ts):
 * in the shared pool a webhook's commit waited behind every GraphQL read queued for a connection (issue
 * 12: writes' p99 2.2 s under the mixed read load, docs/adr/0016-one-statement-per-page.md). Its size is
 * the number of writers, so a commit never waits for a connection. Answers rows, as DataSource.query does.
 */
export function createStatementPool(opts: {
  url: string;
  size: number;
  applicationName: string;
  onError: (err: Error) => void;
}): StatementPool {
  const pool = new pg.Pool({
    connectionString: opts.url,
    application_name: opts.applicationName,
    Client: ListenedClient,
    max: opts.size,
    ...POOL_TIMEOUTS,
  });
  // An idle client's error, re-emitted by the pool (which has dropped the client): unheard it would throw.
  pool.on('error', opts.onError);
  return {
    query: async <T>(sql: string, params?: unknown[]) => (await pool.query(sql, params)).rows as T,
    end: () => pool.end(),
  };
}

/** Builds (does not connect) the one DataSource of a process. Never `synchronize`: schema is migrations only. */
export function createDataSource(opts: DataSourceOptions): DataSource {
  const ds = new DataSource({
    type: 'postgres',
    url: opts.url,
    entities,
    migrations,
    migrationsTableName: MIGRATIONS_TABLE,
    migrationsTransactionMode: 'each',
    synchronize: false,
    migrationsRun: false,
    logging: false,
    applicationName: opts.applicationName ?? 'identity-monitor',
    extra: {
      Client: ListenedClient,
      max: opts.poolSize ?? DEFAULT_POOL_SIZE,
      ...POOL_TIMEOUTS,
    },
  });
  return acceptColumnTypes(ds);
}

export interface MigrateResult {
  /** The versioned migrations this call applied, oldest first. */
  migrations: string[];
  /** The sql/ files it applied (those whose objects differed from the database's), or null when the
   * database holds migrations this build does not know: a newer build owns the functions then. */
  sqlFiles: string[] | null;
}

/**
 * Applies pending migrations, then the sql/ files that differ from the database (src/db/sql-files.ts),
 * under a PostgreSQL advisory lock (session-level, on a connection of its own), so several replicas
 * may start at once: the first migrates, the others wait and find nothing to do.
 */
export async function migrateSchema(ds: DataSource): Promise<MigrateResult> {
  const lock = ds.createQueryRunner();
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const applied = await ds.runMigrations({ transaction: 'each' });
    const known = migrations.map((m) => m.name);
    const [newer] = (await lock.query(
      `SELECT count(*)::int AS n FROM ${MIGRATIONS_TABLE} WHERE name <> ALL ($1::text[])`,
      [known],
    )) as { n: number }[];
    // An older build starting beside a newer one (a rollout, a rollback) must not put its files back.
    const sqlFiles = (newer?.n ?? 0) > 0 ? null : await applySqlFiles(lock);
    return { migrations: applied.map((m) => m.name), sqlFiles };
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await lock.release();
  }
}

/** migrateSchema(), answering the names of the migrations it applied. */
export async function migrate(ds: DataSource): Promise<string[]> {
  return (await migrateSchema(ds)).migrations;
}

/** True when every migration this build knows of is recorded as applied (one query; throws if the DB is down). */
export async function migrationsApplied(ds: DataSource): Promise<boolean> {
  const names = migrations.map((m) => m.name);
  const rows: { n: string }[] = await ds.query(
    `SELECT count(*)::text AS n FROM ${MIGRATIONS_TABLE} WHERE name = ANY($1::text[])`,
    [names],
  );
  return Number(rows[0]?.n) === names.length;
}
