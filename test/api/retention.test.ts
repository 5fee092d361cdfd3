import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { DataSource } from 'typeorm';
import { purgeOldDeliveries } from '../../src/ingest/store.js';
import { openTestDataSource, type TestDataSource } from '../helpers/db.js';

describe('delivery record retention (WEBHOOK_DELIVERY_RETENTION_DAYS)', () => {
  let t: TestDataSource;
  let ds: DataSource;
  before(async () => {
    t = await openTestDataSource();
    ds = t.ds;
  });
  after(() => t.close());

  /** A delivery record received `daysAgo` days ago, with one event of it; returns its id. */
  async function delivery(daysAgo: number): Promise<string> {
    const [row] = await ds.query(
      `INSERT INTO webhook_deliveries (provider, received_at, outcome, event_count)
       VALUES ('PROVE', now() - make_interval(days => $1), 'accepted', 1) RETURNING id`,
      [daysAgo],
    );
    const [identity] = await ds.query(
      "INSERT INTO identities (provider, provider_identity_id) VALUES ('PROVE', $1) RETURNING id",
      [`retention-${randomUUID()}`],
    );
    await ds.query(
      `INSERT INTO identity_events (identity_id, delivery_id, provider, provider_event_id, type, raw_type, occurred_at)
       VALUES ($1, $2, 'PROVE', $3, 'PORT', 'PORT', now())`,
      [identity.id, row.id, `retention-evt-${randomUUID()}`],
    );
    return row.id;
  }

  it('deletes the records older than the retention, in batches, and keeps every event', async () => {
    const old = await Promise.all([40, 41, 45, 90, 365].map(delivery));
    const recent = await Promise.all([0, 1, 29].map(delivery));
    const eventsBefore = Number((await ds.query('SELECT count(*) AS n FROM identity_events'))[0].n);

    assert.equal(await purgeOldDeliveries(ds, 30, 2), 5, 'five records, two at a time');
    const left: { id: string }[] = await ds.query('SELECT id FROM webhook_deliveries');
    assert.deepEqual(left.map((r) => r.id).sort(), [...recent].sort());
    assert.ok(old.every((id) => !left.some((r) => r.id === id)));
    assert.equal(Number((await ds.query('SELECT count(*) AS n FROM identity_events'))[0].n), eventsBefore);
    assert.equal(await purgeOldDeliveries(ds, 30, 2), 0, 'nothing left to purge');
  });
});
