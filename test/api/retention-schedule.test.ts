import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { pino } from 'pino';
import type { DataSource } from 'typeorm';
import { startRetention } from '../../src/ingest/retention.js';
import { openTestDataSource, type TestDataSource } from '../helpers/db.js';
import { pollUntil } from '../helpers/poll.js';

const INTERVAL_MS = 100;
const DAYS = 30;

describe('retention scheduler (src/ingest/retention.ts)', () => {
  let t: TestDataSource;
  let ds: DataSource;
  before(async () => {
    // One connection for the purges, one for the test's own queries while a purge waits on a lock.
    t = await openTestDataSource(3);
    ds = t.ds;
  });
  after(() => t.close());

  /** A logger whose lines the test reads. */
  function logger() {
    const lines: { msg: string; deleted?: number; days?: number; err?: { message: string } }[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(JSON.parse(String(chunk)));
        cb();
      },
    });
    return { log: pino({ level: 'info' }, sink), lines };
  }

  /** A delivery record received 40 days ago, past the retention; returns its id. */
  async function oldDelivery(): Promise<string> {
    const [row] = await ds.query(
      `INSERT INTO webhook_deliveries (provider, received_at, outcome, event_count)
       VALUES ('PROVE', now() - interval '40 days', 'accepted', 0) RETURNING id`,
    );
    return row.id;
  }
  async function deliveryExists(id: string): Promise<boolean> {
    return (await ds.query('SELECT 1 FROM webhook_deliveries WHERE id = $1', [id])).length > 0;
  }
  /** A Prove token id whose token expired a minute ago. */
  async function expiredTokenId(): Promise<string> {
    const jti = `retention-${Math.random()}`;
    await ds.query("INSERT INTO prove_token_ids (jti, expires_at) VALUES ($1, now() - interval '1 minute')", [
      jti,
    ]);
    return jti;
  }
  async function tokenIdExists(jti: string): Promise<boolean> {
    return (await ds.query('SELECT 1 FROM prove_token_ids WHERE jti = $1', [jti])).length > 0;
  }
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('runs one interval after start, and again every interval', async () => {
    const { log, lines } = logger();
    const [first, jti] = [await oldDelivery(), await expiredTokenId()];
    const t0 = Date.now();
    const retention = startRetention({ db: ds, deliveryRetentionDays: DAYS, log, intervalMs: INTERVAL_MS });
    try {
      assert.ok(await deliveryExists(first), 'nothing is deleted at start');
      assert.equal(
        await pollUntil(
          () => deliveryExists(first),
          (e) => !e,
          5000,
        ),
        false,
      );
      assert.ok(Date.now() - t0 >= INTERVAL_MS - 5, `deleted after ${Date.now() - t0} ms`);
      assert.equal(await tokenIdExists(jti), false, 'the expired token id went too');

      const second = await oldDelivery();
      assert.equal(
        await pollUntil(
          () => deliveryExists(second),
          (e) => !e,
          5000,
        ),
        false,
        'a later tick',
      );
      const purged = lines.filter((l) => l.msg === 'purged old delivery records');
      assert.deepEqual(
        purged.map((l) => [l.deleted, l.days]),
        [
          [1, DAYS],
          [1, DAYS],
        ],
      );
    } finally {
      await retention.stop();
    }
  });

  it('keeps delivery records without a retention, and still forgets expired token ids', async () => {
    const { log } = logger();
    const [kept, jti] = [await oldDelivery(), await expiredTokenId()];
    const retention = startRetention({ db: ds, deliveryRetentionDays: null, log, intervalMs: INTERVAL_MS });
    try {
      assert.equal(
        await pollUntil(
          () => tokenIdExists(jti),
          (e) => !e,
          5000,
        ),
        false,
      );
      await sleep(3 * INTERVAL_MS);
      assert.ok(await deliveryExists(kept));
    } finally {
      await retention.stop();
      await ds.query('DELETE FROM webhook_deliveries WHERE id = $1', [kept]);
    }
  });

  it('logs a run that fails and tries again on the next tick; one job failing does not stop the other', async () => {
    const { log, lines } = logger();
    const id = await oldDelivery();
    await ds.query('ALTER TABLE webhook_deliveries RENAME TO webhook_deliveries_away');
    const retention = startRetention({ db: ds, deliveryRetentionDays: DAYS, log, intervalMs: INTERVAL_MS });
    try {
      const failures = () =>
        Promise.resolve(lines.filter((l) => l.msg === 'could not purge old delivery records'));
      const failed = await pollUntil(failures, (f) => f.length >= 2, 5000);
      assert.ok(failed.length >= 2, 'it failed on two ticks, and was logged each time');
      assert.equal(failed[0]?.err?.message, 'relation "webhook_deliveries" does not exist');
      const jti = await expiredTokenId();
      assert.equal(
        await pollUntil(
          () => tokenIdExists(jti),
          (e) => !e,
          5000,
        ),
        false,
        'token ids still go',
      );
    } finally {
      await ds.query('ALTER TABLE webhook_deliveries_away RENAME TO webhook_deliveries');
    }
    try {
      assert.equal(
        await pollUntil(
          () => deliveryExists(id),
          (e) => !e,
          5000,
        ),
        false,
        'a later tick succeeds',
      );
    } finally {
      await retention.stop();
    }
  });

  it('never runs a purge twice at once, and stop() waits for the one under way, then runs no more', async () => {
    const { log, lines } = logger();
    const id = await oldDelivery();
    // A purge that outlasts many intervals: another session holds the table until the test lets go.
    const locker = new pg.Client(t.db.url);
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE webhook_deliveries IN ACCESS EXCLUSIVE MODE');
    /** The purge statements running now, each in a session of its own (not the locker's: in its
     * transaction, pg_stat_activity would stay as it first read it). */
    const purges = async () => {
      const [row] = await ds.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()
           AND state = 'active' AND query LIKE '%DELETE FROM webhook_deliveries%'`,
      );
      return row.n as number;
    };
    const retention = startRetention({ db: ds, deliveryRetentionDays: DAYS, log, intervalMs: INTERVAL_MS });
    let stopped = false;
    try {
      assert.equal(await pollUntil(purges, (n) => n > 0, 5000), 1, 'a purge waits on the lock');
      for (let k = 0; k < 5; k++) {
        await sleep(INTERVAL_MS);
        assert.equal(await purges(), 1, `still one purge after ${k + 2} intervals`);
      }
      const jti = await expiredTokenId();
      assert.equal(
        await pollUntil(
          () => tokenIdExists(jti),
          (e) => !e,
          5000,
        ),
        false,
        'the other job runs',
      );

      const stopping = retention.stop().then(() => {
        stopped = true;
      });
      await sleep(3 * INTERVAL_MS);
      assert.equal(stopped, false, 'stop() waits for the purge under way');
      await locker.query('COMMIT');
      await stopping;
      assert.equal(await deliveryExists(id), false, 'the purge under way finished');
      assert.equal(lines.filter((l) => l.msg === 'purged old delivery records').length, 1);

      const later = await oldDelivery();
      const laterJti = await expiredTokenId();
      await sleep(4 * INTERVAL_MS);
      assert.ok(await deliveryExists(later), 'no run after stop()');
      assert.ok(await tokenIdExists(laterJti), 'no run after stop()');
      await ds.query('DELETE FROM webhook_deliveries WHERE id = $1', [later]);
    } finally {
      if (!stopped) await locker.query('ROLLBACK').catch(() => undefined);
      await retention.stop();
      await locker.end();
    }
  });
});
