import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { DataSource } from 'typeorm';
import type { NormalizedEvent } from '../../src/domain/types.js';
import { type DeliveryRecord } from '../../src/ingest/delivery-record.js';
import { findRefusals } from '../../src/ingest/item-by-item.js';
import { type SetAsideReason, SPOOL_FORMAT, Spool } from '../../src/ingest/spool.js';
import { startSpoolLoader } from '../../src/ingest/spool-loader.js';
import { storeBatch } from '../../src/ingest/store.js';
import { createLogger } from '../../src/observability/logger.js';
import { openTestDataSource, type TestDataSource } from '../helpers/db.js';
import { proveEvent, spooledRecord } from '../helpers/events.js';
import { foldedState, storedState } from '../helpers/policy.js';

function event(identity: string, id: string, type: NormalizedEvent['type'], occurredAt: string) {
  return proveEvent(identity, id, type, new Date(occurredAt));
}

describe('the spool loader, for a record PostgreSQL refuses as a whole', () => {
  let t: TestDataSource;
  let ds: DataSource;
  let dir: string;
  let spool: Spool;
  const logs: string[] = [];
  const log = createLogger(
    'info',
    new Writable({
      write(chunk, _enc, cb) {
        logs.push(String(chunk));
        cb();
      },
    }),
  );
  before(async () => {
    t = await openTestDataSource(3);
    ds = t.ds;
    dir = await mkdtemp(path.join(os.tmpdir(), 'idm-spool-loader-'));
    spool = new Spool(dir, log);
    await spool.init();
  });
  after(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Spools the records and runs one loader over them until it has gone through the spool. */
  async function load(...records: DeliveryRecord[]): Promise<void> {
    for (const r of records) await spool.append(r);
    const loader = startSpoolLoader({
      spool,
      store: async (r) => (await storeBatch(ds, [r]))[0]!,
      findRefusals: (r) => findRefusals(ds, r),
      log,
      retryMs: 60_000,
    });
    await loader.kick();
    await loader.stop();
  }
  const files = async () => ({
    pending: await spool.pending(),
    failed: await readdir(path.join(dir, 'failed')),
  });
  const deliveryOf = async (correlationId: string | null) =>
    (
      await ds.query(
        `SELECT outcome, event_count, rejected_count, rejected_items, signing_key
         FROM webhook_deliveries WHERE correlation_id = $1`,
        [correlationId],
      )
    )[0];

  it('stores the events PostgreSQL accepts and rejects the refused one alone, at its notification index', async () => {
    const identity = `split-${randomBytes(4).toString('hex')}`;
    const other = `${identity}-other`;
    const events = [
      event(identity, `${identity}-1`, 'PORT', '2025-01-23T10:00:00Z'),
      // Year 0, which a parser now rejects; a record spooled before that fix (or past another gap) has it.
      event(identity, `${identity}-2`, 'DISCONNECT', '0000-01-01T00:00:00Z'),
      event(other, `${identity}-3`, 'LINE_TYPE_CHANGE', '2025-01-23T10:01:00Z'),
    ];
    // Notification 1 was rejected by the parser: the events are notifications 0, 2 and 3.
    const parserRejected = { index: 1, reason: 'eventId / eventID is missing', raw: { eventType: 'PORT' } };
    const record = spooledRecord(events, { rejected: [parserRejected] });
    await assert.rejects(storeBatch(ds, [record]), { code: '22008' }, 'refused whole, as the premise');

    await load(record);
    assert.deepEqual(await files(), { pending: [], failed: [] });
    const stored = await ds.query(
      'SELECT provider_event_id FROM identity_events WHERE provider_event_id LIKE $1 ORDER BY id',
      [`${identity}-%`],
    );
    assert.deepEqual(
      stored.map((r: { provider_event_id: string }) => r.provider_event_id),
      [`${identity}-1`, `${identity}-3`],
    );
    const delivery = await deliveryOf(record.delivery.correlationId);
    assert.deepEqual(
      [delivery.outcome, delivery.event_count, delivery.rejected_count, delivery.signing_key],
      ['spooled', 2, 2, 'utf8'],
    );
    assert.deepEqual(delivery.rejected_items[0], parserRejected);
    assert.equal(delivery.rejected_items[1].index, 2);
    assert.match(
      delivery.rejected_items[1].reason,
      /^refused by the database \(SQLSTATE 22008\): date\/time/,
    );
    assert.equal(delivery.rejected_items[1].raw.provider_event_id, `${identity}-2`);
    // The identity's state is what its stored events say: the refused DISCONNECT would have ended it.
    assert.deepEqual(await storedState(ds, identity), await foldedState(ds, identity));
    assert.deepEqual(await storedState(ds, identity), { status: 'ACTIVE', riskLevel: 'HIGH' });
    const [{ n: tokens }] = await ds.query('SELECT count(*)::int AS n FROM prove_token_ids WHERE jti = $1', [
      record.delivery.jti,
    ]);
    assert.equal(tokens, 1, 'its token id is consumed once loaded');
    const warned = logs.filter((l) => l.includes('loading it item by item'));
    assert.equal(warned.length, 1);
    assert.ok(!/ingest_batch|INSERT|jti-/.test(warned.join('')), 'no SQL or parameters in the log');
  });

  it('stores every event of a record refused only for its summary, deriving the state from them', async () => {
    const identity = `summary-${randomBytes(4).toString('hex')}`;
    const record = spooledRecord([
      event(identity, `${identity}-1`, 'PORT', '2025-01-23T10:00:00Z'),
      event(identity, `${identity}-2`, 'DISCONNECT', '2025-01-23T10:01:00Z'),
    ]);
    // Each event is storable alone; the summary (a shortcut computed from them) is not.
    record.summaries = record.summaries.map((s) => ({ ...s, first_at: '0000-01-01T00:00:00.000Z' }));
    await load(record);
    assert.deepEqual(await files(), { pending: [], failed: [] });
    const delivery = await deliveryOf(record.delivery.correlationId);
    assert.deepEqual([delivery.event_count, delivery.rejected_count], [2, 0]);
    assert.deepEqual(await storedState(ds, identity), await foldedState(ds, identity));
    assert.deepEqual(await storedState(ds, identity), { status: 'ENDED', riskLevel: 'HIGH' });
  });

  it('sets aside in failed/ only a record whose delivery alone PostgreSQL refuses, storing nothing', async () => {
    const identity = `aside-${randomBytes(4).toString('hex')}`;
    const record = spooledRecord([event(identity, `${identity}-1`, 'PORT', '2025-01-23T10:00:00Z')], {
      receivedAt: '0000-01-01T00:00:00.000Z',
    });
    await load(record);
    const { pending, failed } = await files();
    assert.deepEqual([pending.length, failed.length], [0, 1]);
    assert.equal(await deliveryOf(record.delivery.correlationId), undefined);
    const [{ n }] = await ds.query(
      'SELECT count(*)::int AS n FROM identity_events WHERE provider_event_id = $1',
      [`${identity}-1`],
    );
    assert.equal(n, 0);
  });

  it('loads a record spooled before deliveries kept their signing key (no signingKey field)', async () => {
    const identity = `old-${randomBytes(4).toString('hex')}`;
    const record = spooledRecord([event(identity, `${identity}-1`, 'PORT', '2025-01-23T10:00:00Z')]);
    delete record.delivery.signingKey;
    assert.ok(!JSON.stringify(record).includes('signingKey'));
    const failedBefore = (await files()).failed.length;
    await load(record);
    assert.deepEqual((await files()).pending, []);
    assert.equal((await files()).failed.length, failedBefore);
    const delivery = await deliveryOf(record.delivery.correlationId);
    assert.deepEqual([delivery.outcome, delivery.event_count, delivery.signing_key], ['spooled', 1, null]);
  });
});

describe('the spool loader, for files this build cannot read', () => {
  let t: TestDataSource;
  let dir: string;
  const logs: string[] = [];
  const reasons: SetAsideReason[] = [];
  let spool: Spool;
  before(async () => {
    t = await openTestDataSource(3);
    dir = await mkdtemp(path.join(os.tmpdir(), 'idm-spool-format-'));
    const log = createLogger(
      'info',
      new Writable({
        write(chunk, _enc, cb) {
          logs.push(String(chunk));
          cb();
        },
      }),
    );
    spool = new Spool(dir, log, (reason) => reasons.push(reason));
    await spool.init();
  });
  after(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  const stored = async (identity: string) =>
    (
      await t.ds.query<{ provider_event_id: string }[]>(
        'SELECT provider_event_id FROM identity_events WHERE provider_event_id LIKE $1 ORDER BY 1',
        [`${identity}-%`],
      )
    ).map((r) => r.provider_event_id);

  it('sets aside a file of an unknown format or an unreadable one, reports why, and loads the ones after it', async () => {
    const identity = `format-${randomBytes(4).toString('hex')}`;
    const one = (n: number) =>
      spooledRecord([event(identity, `${identity}-${n}`, 'PORT', '2025-01-23T10:00:00Z')]);
    // Named as the spool names files, so they sort in this order: each one is met before the next.
    const files: [string, string][] = [
      ['000000000000001-1-000000001.json', JSON.stringify({ format: 2, record: one(1) })],
      [
        '000000000000001-1-000000002.json',
        JSON.stringify({ format: SPOOL_FORMAT, record: one(2) }).slice(0, 80),
      ],
      // A bare record, as spooled before the format was versioned: loaded as format 1.
      ['000000000000001-1-000000003.json', JSON.stringify(one(3))],
      ['000000000000001-1-000000004.json', JSON.stringify({ format: SPOOL_FORMAT, record: one(4) })],
    ];
    for (const [name, text] of files) await writeFile(path.join(dir, name), text);
    const loader = startSpoolLoader({
      spool,
      store: async (r) => (await storeBatch(t.ds, [r]))[0]!,
      findRefusals: (r) => findRefusals(t.ds, r),
      log: createLogger('silent'),
      retryMs: 60_000,
    });
    await loader.kick();
    await loader.stop();

    assert.deepEqual(
      await stored(identity),
      [`${identity}-3`, `${identity}-4`],
      'never misread, never blocking',
    );
    assert.deepEqual(await spool.pending(), []);
    assert.deepEqual((await readdir(path.join(dir, 'failed'))).sort(), [files[0]![0], files[1]![0]]);
    assert.deepEqual(reasons, ['unknown_format', 'unreadable']);
    const setAside = logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'spooled delivery set aside');
    assert.deepEqual(
      setAside.map((l) => [l.record, l.reason, l.detail]),
      [
        [files[0]![0], 'unknown_format', `format 2; this build reads format ${SPOOL_FORMAT}`],
        [files[1]![0], 'unreadable', 'not JSON'],
      ],
    );
  });
});
