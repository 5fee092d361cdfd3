import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { DataSource } from 'typeorm';
import { createDataSource } from '../../src/db/data-source.js';

const TEMPLATE_DB = 'app_template';

function adminUrl(): string {
  const url = process.env.TEST_PG_ADMIN_URL;
  if (!url)
    throw new Error(
      'TEST_PG_ADMIN_URL is unset: run the tests with `npm test` (test/run.ts starts PostgreSQL)',
    );
  return url;
}

export function urlFor(database: string): string {
  const url = new URL(adminUrl());
  url.pathname = `/${database}`;
  return url.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client(adminUrl());
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/**
 * A fresh database for one test file: a clone of the migrated template, or (`empty: true`) a database
 * with no schema at all, for migration tests.
 */
export async function createTestDatabase(opts: { empty?: boolean } = {}): Promise<TestDatabase> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${opts.empty ? 'template0' : TEMPLATE_DB}`));
  return {
    name,
    url: urlFor(name),
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

export interface TestDataSource {
  db: TestDatabase;
  ds: DataSource;
  /** Closes the DataSource, then drops the database. */
  close(): Promise<void>;
}

/** A fresh migrated database with a TypeORM DataSource on it, for tests that talk SQL without a server. */
export async function openTestDataSource(poolSize = 2): Promise<TestDataSource> {
  const db = await createTestDatabase();
  const ds = createDataSource({ url: db.url, poolSize });
  await ds.initialize();
  return {
    db,
    ds,
    async close() {
      await ds.destroy();
      await db.drop();
    },
  };
}
