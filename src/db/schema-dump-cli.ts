/**
 * `npm run db:dump`: migrates an empty database on a throwaway embedded PostgreSQL and writes its
 * schema to sql/schema.snapshot.sql (src/db/schema-dump.ts), the file test/api/schema-dump.test.ts
 * compares with a migrated database. Commit the file with the migration or sql/ change that moved it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createDataSource, migrate } from './data-source.js';
import { createDatabase, startEmbeddedPostgres } from './embedded-postgres.js';
import { dumpSchema } from './schema-dump.js';
import { SQL_DIR } from './sql-files.js';

export const SNAPSHOT = path.join(SQL_DIR, 'schema.snapshot.sql');

const dir = await mkdtemp(path.join(os.tmpdir(), 'idm-db-dump-'));
try {
  const server = await startEmbeddedPostgres({ dir: path.join(dir, 'pg'), ephemeral: true });
  try {
    const ds = createDataSource({ url: await createDatabase(server.url, 'schema_dump'), poolSize: 2 });
    await ds.initialize();
    try {
      await migrate(ds);
      await writeFile(SNAPSHOT, await dumpSchema(ds));
    } finally {
      await ds.destroy();
    }
  } finally {
    await server.stop();
  }
  process.stdout.write(`wrote ${path.relative(process.cwd(), SNAPSHOT)}\n`);
} catch (err) {
  process.stderr.write(`db:dump failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
} finally {
  await rm(dir, { recursive: true, force: true });
}
