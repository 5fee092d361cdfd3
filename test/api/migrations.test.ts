import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { migrations } from '../../migrations/index.js';
import { createDataSource, migrate, migrationsApplied } from '../../src/db/data-source.js';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../src/db/embedded-postgres.js';

/**
 * On a cluster of its own: these tests create, migrate and drop databases of their own naming, and
 * stop nothing that other test files share.
 */
describe('migrations', () => {
  let dir: string;
  let cluster: EmbeddedPostgres;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'idm-migrations-'));
    cluster = await startEmbeddedPostgres({ dir: path.join(dir, 'pg'), ephemeral: true });
  });
  after(async () => {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  });

  let n = 0;
  async function createTestDatabase(_opts: { empty: true }) {
    const name = `m_${n++}`;
    const admin = new pg.Client(cluster.url);
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(cluster.url);
    url.pathname = `/${name}`;
    return { url: url.toString() };
  }

  it('apply to an empty database and create every table', async () => {
    const db = await createTestDatabase({ empty: true });
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
        [
          'identities',
          'identity_events',
          'prove_token_ids',
          'rejection_budget',
          'typeorm_migrations',
          'webhook_deliveries',
        ],
      );
      assert.deepEqual(await migrate(ds), [], 'a second run finds nothing to do');
    } finally {
      await ds.destroy();
    }
  });

  it('revert newest first down to an empty schema, and apply again', async () => {
    const db = await createTestDatabase({ empty: true });
    const ds = createDataSource({ url: db.url, poolSize: 3 });
    await ds.initialize();
    const schema = async () =>
      (
        await ds.query<{ name: string }[]>(
          // Ours only: not TypeORM's bookkeeping table (and its index), nor the uuid-ossp functions.
          `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relname NOT LIKE 'typeorm_migrations%'
               AND NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
                               WHERE i.indexrelid = c.oid AND t.relname = 'typeorm_migrations')
           UNION ALL SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'public'
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
           UNION ALL SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
             WHERE n.nspname = 'public' AND t.typtype = 'c' AND t.typrelid NOT IN
               (SELECT oid FROM pg_class WHERE relkind <> 'c')
           ORDER BY 1`,
        )
      ).map((r) => r.name);
    try {
      await migrate(ds);
      const full = await schema();
      assert.ok(full.includes('event_horizon') && full.includes('ingest_batch'), full.join(' '));
      for (let i = 0; i < migrations.length; i++) await ds.undoLastMigration({ transaction: 'each' });
      assert.deepEqual(await schema(), [], 'every table, index, function and type dropped');
      assert.deepEqual(
        await migrate(ds),
        migrations.map((m) => m.name),
      );
      assert.deepEqual(await schema(), full);
    } finally {
      await ds.destroy();
    }
  });

  it('refuse to revert the wider event key while events rely on it, keeping them', async () => {
    const db = await createTestDatabase({ empty: true });
    const ds = createDataSource({ url: db.url, poolSize: 3 });
    await ds.initialize();
    try {
      await migrate(ds);
      // One Prove eventId for two event types of one identity, as Prove's own guide sends them.
      await ds.query(`WITH i AS (INSERT INTO identities (provider, provider_identity_id) VALUES ('PROVE', 'id-1') RETURNING id)
        INSERT INTO identity_events (identity_id, provider, provider_event_id, type, raw_type, occurred_at)
        SELECT i.id, 'PROVE', 'evt-1', t, t, now() FROM i, unnest(ARRAY['PORT', 'DISCONNECT']) AS t`);
      await assert.rejects(
        ds.undoLastMigration({ transaction: 'each' }),
        /cannot revert ProveEventKey: 1 provider event id\(s\) stored more than once \(for several identities or event types\)/,
      );
      const [{ n }] = await ds.query('SELECT count(*)::int AS n FROM identity_events');
      assert.equal(n, 2);
      assert.equal(await migrationsApplied(ds), true);
    } finally {
      await ds.destroy();
    }
  });

  it('run from several replicas at once without error, applying each migration exactly once', async () => {
    const db = await createTestDatabase({ empty: true });
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

  it('are applied by `npm run migrate` (src/db/migrate-cli.ts) without starting the server', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const { fileURLToPath } = await import('node:url');
    const db = await createTestDatabase({ empty: true });
    const cli = fileURLToPath(new URL('../../src/db/migrate-cli.js', import.meta.url));
    const env = { PATH: process.env.PATH ?? '', DATABASE_URL: db.url, LOG_LEVEL: 'info' };
    const { stdout } = await promisify(execFile)(process.execPath, [cli], { env });
    assert.match(stdout, /applied migrations/);
    assert.match(stdout, /migrations are up to date/);
    const c = new pg.Client(db.url);
    await c.connect();
    const rows = await c.query('SELECT name FROM typeorm_migrations ORDER BY id');
    await c.end();
    assert.deepEqual(
      rows.rows.map((r) => r.name),
      migrations.map((m) => m.name),
    );
  });
});
