import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { migrations } from '../../migrations/index.js';
import { createDataSource, migrate, migrationsApplied } from '../../src/db/data-source.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

describe('migrations', () => {
  const dbs: TestDatabase[] = [];
  after(async () => Promise.all(dbs.map((d) => d.drop())));

  it('apply to an empty database and create every table', async () => {
    const db = await createTestDatabase({ empty: true });
    dbs.push(db);
    const ds = createDataSource({ url: db.url, poolSize: 3 });
    await ds.initialize();
    try {
      assert.equal(await migrationsApplied(ds).catch(() => false), false);
      assert.deepEqual(
        await migrate(ds),
        migrations.map((m) => m.name),
      );
      assert.equal(await migrationsApplied(ds), true);
      const tables: { table_name: string }[] = await ds.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
      );
      assert.deepEqual(
        tables.map((t) => t.table_name),
        ['identities', 'identity_events', 'prove_token_ids', 'typeorm_migrations', 'webhook_deliveries'],
      );
      assert.deepEqual(await migrate(ds), [], 'a second run finds nothing to do');
    } finally {
      await ds.destroy();
    }
  });

  it('run from several replicas at once without error, applying each migration exactly once', async () => {
    const db = await createTestDatabase({ empty: true });
    dbs.push(db);
    const sources = Array.from({ length: 4 }, () => createDataSource({ url: db.url, poolSize: 3 }));
    await Promise.all(sources.map((s) => s.initialize()));
    try {
      const results = await Promise.all(sources.map((s) => migrate(s)));
      assert.deepEqual(results.flat().sort(), migrations.map((m) => m.name).sort());
      const rows: { n: string }[] = await sources[0]!.query(
        'SELECT count(*)::text AS n FROM typeorm_migrations',
      );
      assert.equal(rows[0]?.n, String(migrations.length));
    } finally {
      await Promise.all(sources.map((s) => s.destroy()));
    }
  });
});
