import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DataSource, QueryRunner } from 'typeorm';
import { findIdentity, lockIdentity } from '../../src/enrollment/enrollment.store.js';
import { openTestDataSource, type TestDataSource } from '../helpers/db.js';
import { pollUntil } from '../helpers/poll.js';

/** PostgreSQL's lock_not_available, which lock_timeout raises. */
const LOCK_TIMEOUT = '55P03';

describe('enrollment store: the identity row lock of deactivation and reactivation', () => {
  let t: TestDataSource;
  let ds: DataSource;
  let id: string;
  before(async () => {
    t = await openTestDataSource(4);
    ds = t.ds;
    [{ id }] = await ds.query(
      `INSERT INTO identities (provider, provider_identity_id, client_customer_id)
       VALUES ('PROVE', 'prove-1', 'customer-1') RETURNING id`,
    );
  });
  after(() => t.close());

  async function holdingLock<T>(fn: (holder: QueryRunner) => Promise<T>): Promise<T> {
    const holder = ds.createQueryRunner();
    await holder.connect();
    await holder.startTransaction();
    try {
      const locked = await lockIdentity(holder.manager, id);
      assert.ok(locked, 'the identity is found and locked');
      return await fn(holder);
    } finally {
      await holder.rollbackTransaction();
      await holder.release();
    }
  }

  /** Runs `sql` in a transaction of its own that gives up after 500 ms waiting for a lock. */
  const withLockTimeout = (run: (q: QueryRunner) => Promise<unknown>) =>
    ds.transaction(async (m) => {
      await m.query("SET LOCAL lock_timeout = '500ms'");
      return run(m.queryRunner as QueryRunner);
    });

  it('reads what deactivation needs, by the entity', async () => {
    assert.deepEqual(
      { ...(await findIdentity(ds.manager, id)) },
      {
        id,
        provider: 'PROVE',
        providerIdentityId: 'prove-1',
        clientCustomerId: 'customer-1',
        status: 'ACTIVE',
      },
    );
    assert.equal(await findIdentity(ds.manager, '00000000-0000-4000-8000-000000000000'), null);
  });

  it('lets event inserts for the identity go on (NO KEY UPDATE), and holds off a second locker', async () => {
    await holdingLock(async () => {
      // An event insert takes KEY SHARE on the identity through the foreign key: not blocked.
      await withLockTimeout((q) =>
        q.query(
          `INSERT INTO identity_events (identity_id, provider, provider_event_id, type, raw_type, occurred_at)
           VALUES ($1, 'PROVE', 'evt-during-lock', 'PORT', 'PORT', now())`,
          [id],
        ),
      );
      const second = withLockTimeout((q) => lockIdentity(q.manager, id));
      await assert.rejects(second, (err: { driverError?: { code?: string } }) => {
        assert.equal(err.driverError?.code, LOCK_TIMEOUT);
        return true;
      });
    });
  });

  it('reads the clock after the lock is granted, so serialised changes are timed in their order', async () => {
    let waiter: Promise<{ now: Date } | null> | undefined;
    const released = await holdingLock(async (holder) => {
      waiter = ds.transaction((m) => lockIdentity(m, id));
      const waiting = await pollUntil(
        async () =>
          (
            await holder.query(
              `SELECT count(*)::int AS n FROM pg_stat_activity
               WHERE datname = current_database() AND wait_event_type = 'Lock'`,
            )
          )[0].n as number,
        (n) => n === 1,
        10_000,
      );
      assert.equal(waiting, 1, 'the waiter is waiting for the lock');
      const [{ now }] = await holder.query('SELECT clock_timestamp() AS now');
      return now as Date;
    });
    const waited = await waiter;
    assert.ok(waited, 'the waiter locked the identity in turn');
    assert.ok(
      waited.now.getTime() >= released.getTime(),
      `clock ${waited.now.toISOString()} read after the holder's last ${released.toISOString()}`,
    );
  });
});
