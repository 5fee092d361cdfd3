import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createDataSource, migrate } from '../../src/db/data-source.js';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../src/db/embedded-postgres.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { postPassbase, postProve, postVove, proveNotification, WEBHOOK_ENV } from '../helpers/webhooks.js';

/** This test stops PostgreSQL under a running server, so it has a cluster of its own. */
describe('the spool keeps verified deliveries while PostgreSQL is down', () => {
  let dir: string;
  let cluster: EmbeddedPostgres;
  let s: TestServer;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'idm-spool-pg-'));
    cluster = await startEmbeddedPostgres({ dir: path.join(dir, 'pg'), ephemeral: true });
    const ds = createDataSource({ url: cluster.url, poolSize: 2 });
    await ds.initialize();
    await migrate(ds);
    await ds.destroy();
    s = await startTestServer({
      env: WEBHOOK_ENV,
      database: { name: 'postgres', url: cluster.url, drop: async () => {} },
    });
  });
  after(async () => {
    await s.close();
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers 202, then loads every event exactly once when PostgreSQL is back, without a restart', async () => {
    await cluster.stop();
    const notifications = Array.from({ length: 5 }, () => [proveNotification(), proveNotification()]);
    const answers = [];
    for (const pair of notifications) answers.push(await postProve(s.url, { notifications: pair }));
    answers.push(
      await postVove(s.url, { status: 'suspected', refId: 'vove-during-outage' }, { id: 'msg_outage' }),
    );
    answers.push(
      await postPassbase(s.url, {
        event: 'VERIFICATION_REVIEWED',
        key: '0b9f2f4e-8a63-4f57-9a2b-1c2d3e4f5a6b',
        status: 'declined',
        created: 1700000000,
        updated: 1700000100,
      }),
    );
    // A redelivery of the first batch while down: spooled too, and a duplicate once loaded.
    answers.push(await postProve(s.url, { notifications: notifications[0]! }));
    for (const a of answers) assert.deepEqual([a.status, a.body], [202, { spooled: true }]);
    assert.equal((await readdir(s.spoolDir)).filter((n) => n.endsWith('.json')).length, answers.length);
    assert.equal((await fetch(`${s.url}/readyz`)).status, 503);

    cluster = await startEmbeddedPostgres({ dir: path.join(dir, 'pg'), ephemeral: true, port: cluster.port });
    const client = new pg.Client(cluster.url);
    await client.connect();
    try {
      // Loaded means committed: every spooled delivery has its row (the last adds no event).
      let stored = 0;
      let loaded = 0;
      for (let i = 0; i < 100 && (stored < 12 || loaded < answers.length); i++) {
        await new Promise((r) => setTimeout(r, 100));
        stored = Number((await client.query('SELECT count(*) AS n FROM identity_events')).rows[0].n);
        loaded = Number(
          (await client.query("SELECT count(*) AS n FROM webhook_deliveries WHERE outcome = 'spooled'"))
            .rows[0].n,
        );
      }
      const ids = notifications.flat().map((n) => String(n.eventId));
      const rows = await client.query(
        'SELECT provider_event_id, count(*)::int AS n FROM identity_events WHERE provider_event_id = ANY($1) GROUP BY 1',
        [ids],
      );
      assert.equal(rows.rows.length, 10, 'every Prove event stored');
      assert.ok(
        rows.rows.every((r) => r.n === 1),
        'each exactly once',
      );
      assert.equal(stored, 12, 'plus the VOVE and Passbase events');
      const deliveries = await client.query(
        "SELECT outcome, event_count, duplicate_count FROM webhook_deliveries WHERE outcome = 'spooled' ORDER BY received_at, id",
      );
      assert.equal(deliveries.rows.length, answers.length);
      assert.deepEqual(deliveries.rows.at(-1), { outcome: 'spooled', event_count: 0, duplicate_count: 2 });
      const risk = await client.query(
        "SELECT risk_level FROM identities WHERE provider_identity_id = 'vove-during-outage'",
      );
      assert.equal(risk.rows[0].risk_level, 'HIGH');
    } finally {
      await client.end();
    }
    // A file goes right after its commit: give the last removal a moment.
    const spooled = async () => (await readdir(s.spoolDir)).filter((n) => n.endsWith('.json'));
    for (let i = 0; i < 20 && (await spooled()).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(await spooled(), [], 'spool emptied');
    assert.equal((await fetch(`${s.url}/readyz`)).status, 200);
    const res = await postProve(s.url, { notifications: [proveNotification()] });
    assert.equal(res.status, 200, 'direct ingestion resumes');
  });
});

describe('a database that hangs instead of refusing', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let s: TestServer;
  before(async () => {
    db = await createTestDatabase();
    const url = new URL(db.url);
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) });
    url.port = String(proxy.port);
    s = await startTestServer({
      env: WEBHOOK_ENV,
      database: { ...db, url: url.toString() },
      commitDeadlineMs: 300,
    });
  });
  after(async () => {
    proxy.thaw();
    await s.close();
    await proxy.close();
    await db.drop();
  });

  it('spools a delivery whose commit does not answer in time (202), and stores it once when it answers', async () => {
    assert.equal((await postProve(s.url, { notifications: [proveNotification()] })).status, 200);
    proxy.freeze();
    const held = proveNotification();
    const started = Date.now();
    const res = await postProve(s.url, { notifications: [held] });
    assert.deepEqual([res.status, res.body], [202, { spooled: true }]);
    assert.ok(Date.now() - started < 5000, 'answered at the deadline, not when TCP gives up');
    // The stalled commit and the spooled copy both reach PostgreSQL once it answers: one stores the
    // event, the other finds its token id taken.
    proxy.thaw();
    const client = new pg.Client(db.url);
    await client.connect();
    try {
      const count = async () =>
        Number(
          (
            await client.query('SELECT count(*) AS n FROM identity_events WHERE provider_event_id = $1', [
              held.eventId,
            ])
          ).rows[0].n,
        );
      const spooled = async () => (await readdir(s.spoolDir)).filter((n) => n.endsWith('.json'));
      for (let i = 0; i < 100 && ((await count()) === 0 || (await spooled()).length > 0); i++)
        await new Promise((r) => setTimeout(r, 50));
      assert.equal(await count(), 1, 'stored exactly once');
      assert.deepEqual(await spooled(), [], 'spool emptied');
    } finally {
      await client.end();
    }
    assert.equal((await postProve(s.url, { notifications: [proveNotification()] })).status, 200);
  });
});
