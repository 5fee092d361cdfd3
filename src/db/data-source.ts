import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { migrations } from '../../migrations/index.js';
import { acceptColumnTypes, entities } from './entities/index.js';

export const MIGRATIONS_TABLE = 'typeorm_migrations';
/** pg_advisory_lock key held while migrating, so replicas starting together take turns. */
const MIGRATION_LOCK_KEY = 7_203_114_001;

export interface DataSourceOptions {
  url: string;
  /** Pool size; the pool is shared by webhooks, GraphQL and the feed's catch-up reads. */
  poolSize?: number;
  applicationName?: string;
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
      max: opts.poolSize ?? 20,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
    },
  });
  return acceptColumnTypes(ds);
}

/**
 * Applies pending migrations under a PostgreSQL advisory lock (session-level, on a connection of its
 * own), so several replicas may start at once: the first migrates, the others wait and find nothing to do.
 * Returns the names of the migrations this call applied.
 */
export async function migrate(ds: DataSource): Promise<string[]> {
  const lock = ds.createQueryRunner();
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const applied = await ds.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await lock.release();
  }
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
