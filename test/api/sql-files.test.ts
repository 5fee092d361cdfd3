import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DataSource, type QueryRunner } from 'typeorm';
import { migrations } from '../../migrations/index.js';
import { createDataSource, migrateSchema } from '../../src/db/data-source.js';
import { acceptColumnTypes } from '../../src/db/entities/index.js';
import {
  fileDefinitions,
  liveDefinitions,
  objectOf,
  readSqlFile,
  SQL_DIR,
  SQL_FILES,
  type SqlObject,
} from '../../src/db/sql-files.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { DIST, runScript } from '../helpers/process.js';

/** Each file's objects beside the live ones of the same kind and name, and live objects no file defines. */
async function compare(q: QueryRunner) {
  await q.startTransaction();
  try {
    const live = await liveDefinitions(q);
    const files: { file: string; want: SqlObject[]; have: SqlObject[] }[] = [];
    for (const file of SQL_FILES) {
      const { kind, name } = objectOf(file);
      files.push({
        file,
        want: await fileDefinitions(q, file, await readSqlFile(file)),
        have: live.filter((o) => o.kind === kind && o.name === name),
      });
    }
    const named = new Set(SQL_FILES.map((f) => `${objectOf(f).kind} ${objectOf(f).name}`));
    const orphans = live
      .filter((o) => !named.has(`${o.kind} ${o.name}`))
      .map((o) => `${o.kind} ${o.signature}`);
    return { files, orphans };
  } finally {
    await q.rollbackTransaction();
  }
}

async function assertMatchesFiles(ds: DataSource) {
  const q = ds.createQueryRunner();
  try {
    const { files, orphans } = await compare(q);
    assert.deepEqual(orphans, [], 'every function and composite type has its file in sql/');
    for (const { file, want, have } of files) {
      assert.ok(want.length > 0, `sql/${file} defines something`);
      assert.deepEqual(have, want, `the database's ${objectOf(file).name} is what sql/${file} defines`);
    }
  } finally {
    await q.release();
  }
}

describe('sql/: every function and composite type defined once, in its own file', () => {
  let db: TestDatabase;
  let ds: DataSource;
  let cwd: string;
  before(async () => {
    db = await createTestDatabase({ empty: true });
    cwd = await mkdtemp(path.join(os.tmpdir(), 'idm-sql-files-'));
  });
  after(async () => {
    if (ds?.isInitialized) await ds.destroy();
    await db.drop();
    await rm(cwd, { recursive: true, force: true });
  });

  it('lists every file of sql/types and sql/functions, each named after a distinct object', async () => {
    assert.equal(SQL_DIR, `${path.resolve(DIST, '..', 'sql')}${path.sep}`, 'sql/ found beside dist/');
    const onDisk = (
      await Promise.all(
        ['types', 'functions'].map(async (d) =>
          (await readdir(path.join(SQL_DIR, d))).map((f) => `${d}/${f}`),
        ),
      )
    ).flat();
    assert.deepEqual([...SQL_FILES].sort(), onDisk.sort());
    const names = SQL_FILES.map((f) => `${objectOf(f).kind} ${objectOf(f).name}`);
    assert.equal(new Set(names).size, names.length);
    // Types first: a function's signature may name one.
    const firstFunction = SQL_FILES.findIndex((f) => f.startsWith('functions/'));
    assert.ok(
      SQL_FILES.slice(firstFunction).every((f) => f.startsWith('functions/')),
      SQL_FILES.join(' '),
    );
  });

  it('are applied by `npm run migrate` from any directory: the database then holds exactly what they define', async () => {
    // Run from an unrelated directory: sql/ is found from the compiled module, not the working directory.
    const cli = runScript(path.join(DIST, 'src/db/migrate-cli.js'), {
      cwd,
      env: { DATABASE_URL: db.url, LOG_LEVEL: 'info' },
    });
    const { code } = await cli.finished;
    assert.equal(code, 0, cli.stderr.join(''));
    ds = createDataSource({ url: db.url, poolSize: 2 });
    await ds.initialize();
    await assertMatchesFiles(ds);
    assert.deepEqual(
      await migrateSchema(ds),
      { migrations: [], sqlFiles: [] },
      'a second run applies nothing',
    );
  });

  it('put back a function changed behind their back, in one transaction with the others', async () => {
    // A hand edit, or a versioned migration redefining a function that has a file: the file wins.
    await ds.query(
      "CREATE OR REPLACE FUNCTION event_horizon() RETURNS xid8 LANGUAGE sql STABLE AS $$ SELECT '1'::xid8 $$",
    );
    await ds.query(
      'CREATE OR REPLACE FUNCTION derive_identity_state(ids uuid[]) RETURNS void LANGUAGE sql AS $$ $$',
    );
    assert.deepEqual(await migrateSchema(ds), {
      migrations: [],
      sqlFiles: ['functions/event_horizon.sql', 'functions/derive_identity_state.sql'],
    });
    await assertMatchesFiles(ds);
  });

  it('refuse a composite type that differs from its file, applying nothing', async () => {
    await ds.query(
      "CREATE OR REPLACE FUNCTION event_horizon() RETURNS xid8 LANGUAGE sql STABLE AS $$ SELECT '1'::xid8 $$",
    );
    await ds.query('ALTER TYPE ingest_summary ADD ATTRIBUTE extra int');
    await assert.rejects(
      migrateSchema(ds),
      /type ingest_summary differs from sql\/types\/ingest_summary\.sql: change it in a versioned migration \(ALTER TYPE\)/,
    );
    const [{ v }] = await ds.query('SELECT event_horizon()::text AS v');
    assert.equal(v, '1', 'event_horizon() was not replaced either');
    await ds.query('ALTER TYPE ingest_summary DROP ATTRIBUTE extra');
    assert.deepEqual((await migrateSchema(ds)).sqlFiles, ['functions/event_horizon.sql']);
    await assertMatchesFiles(ds);
  });

  it('are left alone when the database holds a migration this build does not know (a newer build applied it)', async () => {
    await ds.query(
      "CREATE OR REPLACE FUNCTION event_horizon() RETURNS xid8 LANGUAGE sql STABLE AS $$ SELECT '2'::xid8 $$",
    );
    await ds.query(
      "INSERT INTO typeorm_migrations (timestamp, name) VALUES (1999999999999, 'FromTheFuture1999999999999')",
    );
    try {
      assert.deepEqual(await migrateSchema(ds), { migrations: [], sqlFiles: null });
      const [{ v }] = await ds.query('SELECT event_horizon()::text AS v');
      assert.equal(v, '2');
    } finally {
      await ds.query("DELETE FROM typeorm_migrations WHERE name = 'FromTheFuture1999999999999'");
    }
    assert.deepEqual((await migrateSchema(ds)).sqlFiles, ['functions/event_horizon.sql']);
  });

  it('are not redefined by a versioned migration newer than ProveEventKey, the last before sql/ (edit the file instead)', async () => {
    const empty = await createTestDatabase({ empty: true });
    const from = (list: typeof migrations) =>
      acceptColumnTypes(
        new DataSource({ ...createDataSource({ url: empty.url, poolSize: 2 }).options, migrations: list }),
      );
    const functions = async (source: DataSource) => {
      const q = source.createQueryRunner();
      try {
        return (await liveDefinitions(q)).filter((o) => o.kind === 'function');
      } finally {
        await q.release();
      }
    };
    const upTo = from(
      migrations.slice(0, migrations.findIndex((m) => m.name === 'ProveEventKey1763780800000') + 1),
    );
    const all = from(migrations);
    try {
      await upTo.initialize();
      await upTo.runMigrations({ transaction: 'each' });
      const before = await functions(upTo);
      await all.initialize();
      await all.runMigrations({ transaction: 'each' });
      const owned = new Set(
        SQL_FILES.map(objectOf)
          .filter((o) => o.kind === 'function')
          .map((o) => o.name),
      );
      const redefined = (await functions(all))
        .filter((o) => owned.has(o.name))
        .filter((o) => before.find((b) => b.signature === o.signature)?.definition !== o.definition)
        .map((o) => o.signature);
      assert.deepEqual(
        redefined,
        [],
        'a versioned migration redefines these: edit their files in sql/ instead',
      );
    } finally {
      if (upTo.isInitialized) await upTo.destroy();
      if (all.isInitialized) await all.destroy();
      await empty.drop();
    }
  });
});
