import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import { openTestDataSource, type TestDataSource } from '../helpers/db.js';

/**
 * PostgreSQL ends a connection with an error message (fast shutdown, restart, pg_terminate_backend), which
 * node-postgres emits as 'error' on the client: unheard, an uncaught exception that kills the server. It
 * did, in a PostgreSQL stop under load, for a client caught between holders (src/db/data-source.ts).
 */
describe('a pool connection that PostgreSQL terminates', () => {
  let t: TestDataSource;
  let pool: pg.Pool;
  const uncaught: unknown[] = [];
  const remember = (err: unknown) => uncaught.push(err);

  before(async () => {
    t = await openTestDataSource(3);
    // TypeORM's postgres driver keeps the node-postgres Pool as `master`.
    pool = (t.ds.driver as unknown as { master: pg.Pool }).master;
    process.on('uncaughtException', remember);
  });
  after(async () => {
    process.off('uncaughtException', remember);
    await t.close();
  });

  const terminate = (pid: number) => t.ds.query('SELECT pg_terminate_backend($1)', [pid]);

  it('is no uncaught exception while checked out with no listener of its holder, and the pool goes on', async () => {
    // pg-pool takes its own 'error' listener off a client it hands out: this is the moment with none.
    const client = await pool.connect();
    const [{ pid }] = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows as [
      { pid: number },
    ];
    // Not events.once: it would take the 'error' itself, which is what must be heard or not here.
    const ended = new Promise((resolve) => client.once('end', resolve));
    await terminate(pid);
    await ended;
    client.release(new Error('terminated by the test'));
    assert.deepEqual(uncaught, []);
    assert.deepEqual(await t.ds.query('SELECT 1 AS one'), [{ one: 1 }]);
  });

  it('is no uncaught exception when idle either, and the next queries get fresh connections', async () => {
    // Fill the pool with idle connections, then end every one of them from the server side.
    await Promise.all(Array.from({ length: 3 }, () => t.ds.query('SELECT pg_sleep(0.05)')));
    const pids = (await t.ds.query<{ pid: number }[]>(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
    )) as { pid: number }[];
    assert.ok(pids.length > 0);
    for (const { pid } of pids) await terminate(pid);
    // Terminated connections stay in the pool until their end is read: wait for every one to go.
    for (let i = 0; i < 100 && pool.totalCount > 1; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(uncaught, []);
    const answers = await Promise.all(Array.from({ length: 3 }, () => t.ds.query('SELECT 2 AS two')));
    assert.deepEqual(
      answers,
      Array.from({ length: 3 }, () => [{ two: 2 }]),
    );
  });
});
