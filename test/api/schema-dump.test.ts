import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DataSource } from 'typeorm';
import { createDataSource, migrate } from '../../src/db/data-source.js';
import { dumpSchema } from '../../src/db/schema-dump.js';
import { SQL_DIR } from '../../src/db/sql-files.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

describe('sql/schema.snapshot.sql', () => {
  let db: TestDatabase;
  let ds: DataSource;
  before(async () => {
    db = await createTestDatabase({ empty: true });
    ds = createDataSource({ url: db.url, poolSize: 2 });
    await ds.initialize();
    await migrate(ds);
  });
  after(async () => {
    await ds.destroy();
    await db.drop();
  });

  it('is the schema of an empty database after migrate(), as `npm run db:dump` writes it', async () => {
    const dumped = await dumpSchema(ds);
    const committed = await readFile(path.join(SQL_DIR, 'schema.snapshot.sql'), 'utf8');
    if (dumped === committed) return;
    const a = committed.split('\n');
    const b = dumped.split('\n');
    const line = a.findIndex((l, i) => l !== b[i]);
    assert.fail(
      `sql/schema.snapshot.sql is out of date: run \`npm run db:dump\` and commit it. First difference, line ${line + 1}:\n` +
        `  committed: ${a[line] ?? '(end of file)'}\n  migrated:  ${b[line] ?? '(end of file)'}`,
    );
  });

  it('shows a change to any part of the schema, in place', async () => {
    const before = await dumpSchema(ds);
    await ds.query(`
      ALTER TABLE identities ADD COLUMN note text COLLATE "C" DEFAULT 'x';
      CREATE INDEX identities_note_idx ON identities (note);
      COMMENT ON COLUMN identities.note IS 'a note';
      CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
      CREATE TRIGGER identities_touch BEFORE UPDATE ON identities FOR EACH ROW EXECUTE FUNCTION touch();`);
    try {
      const after = await dumpSchema(ds);
      assert.match(after, /^ {4}note text COLLATE "C" DEFAULT 'x'::text\n\) WITH \(fillfactor=80\);$/m);
      assert.match(after, /^CREATE INDEX identities_note_idx ON public\.identities USING btree \(note\);$/m);
      assert.match(after, /^COMMENT ON COLUMN public\.identities\.note IS 'a note';$/m);
      assert.match(after, /^CREATE OR REPLACE FUNCTION public\.touch\(\)$/m);
      assert.match(
        after,
        /^-- Triggers\n\nCREATE TRIGGER identities_touch BEFORE UPDATE ON public\.identities /m,
      );
    } finally {
      await ds.query(`
        DROP TRIGGER identities_touch ON identities; DROP FUNCTION touch();
        ALTER TABLE identities DROP COLUMN note;`);
    }
    assert.equal(await dumpSchema(ds), before, 'a dropped column leaves no trace');
  });
});
