import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DataSource } from 'typeorm';
import { toEventRows, toSummaryRows } from '../../src/data/ingest-rows.js';
import { EVENT_TYPES, type EventType, type NormalizedEvent } from '../../src/domain/types.js';
import { createCommitQueue } from '../../src/ingest/commit-queue.js';
import { type DeliveryRecord } from '../../src/ingest/delivery-record.js';
import { type StoreResult, storeBatch } from '../../src/ingest/store.js';
import { openTestDataSource, type TestDataSource } from '../helpers/db.js';
import { proveEvent } from '../helpers/events.js';
import { foldedState, storedState } from '../helpers/policy.js';
import { rng, VERIFICATION_STATUSES } from '../helpers/random.js';

/** A Prove event at minute `minute` of 2025-01-01. */
function event(identity: string, id: string, type: EventType, minute: number, vs: string | null = null) {
  return proveEvent(identity, id, type, new Date(Date.UTC(2025, 0, 1, 0, minute)), vs);
}

function delivery(events: NormalizedEvent[], jti: string | null): DeliveryRecord {
  return {
    delivery: {
      provider: 'PROVE',
      receivedAt: new Date().toISOString(),
      outcome: 'accepted',
      correlationId: null,
      bodySha256: 'f'.repeat(64),
      jti,
      jtiExpiresAt: jti ? new Date(Date.now() + 600_000).toISOString() : null,
      rejected: [],
    },
    events: toEventRows(events),
    summaries: toSummaryRows(events),
  };
}

type Stored = Extract<StoreResult, { replayed: false }>;

describe('ingest_batch(): many deliveries in one transaction, each as if it had come alone', () => {
  let t: TestDataSource;
  let ds: DataSource;
  before(async () => {
    t = await openTestDataSource(4);
    ds = t.ds;
  });
  after(() => t.close());

  const state = (identity: string) => storedState(ds, identity);
  const folded = (identity: string) => foldedState(ds, identity);

  it('a replayed token, an event twice and one identity in several deliveries, all in one batch', async () => {
    const a = event('batch-x', 'bx-1', 'DEACTIVATED', 1);
    const b = event('batch-x', 'bx-2', 'PORT', 2);
    const c = event('batch-x', 'bx-3', 'REACTIVATED', 3);
    const d = event('batch-y', 'by-1', 'DISCONNECT', 1);
    const results = await storeBatch(ds, [
      delivery([a, d], 'jti-batch-1'),
      delivery([b], 'jti-batch-1'), // the same token again: replayed, stores nothing
      delivery([a, c], 'jti-batch-2'), // a again: a duplicate of the first delivery's
      delivery([b], null), // no token (VOVE, Passbase): b is new, since its first carrier was replayed
    ]);
    assert.deepEqual(
      results.map((r) => (r.replayed ? 'replayed' : [r.accepted, r.duplicates])),
      [[2, 0], 'replayed', [1, 1], [1, 0]],
    );
    const rows: { id: string; event_count: number; duplicate_count: number }[] = await ds.query(
      'SELECT id::text, event_count, duplicate_count FROM webhook_deliveries WHERE id = ANY ($1::uuid[])',
      [results.filter((r): r is Stored => !r.replayed).map((r) => r.deliveryId)],
    );
    assert.equal(rows.length, 3, 'a row for each delivery not replayed, none for the replayed one');
    const byId = new Map(rows.map((r) => [r.id, [r.event_count, r.duplicate_count]]));
    for (const r of results.filter((x): x is Stored => !x.replayed))
      assert.deepEqual(byId.get(r.deliveryId), [r.accepted, r.duplicates]);
    const events = await ds.query(
      `SELECT provider_event_id, delivery_id::text FROM identity_events WHERE provider_event_id LIKE 'b%' ORDER BY id`,
    );
    const stored = results as Stored[];
    assert.deepEqual(events, [
      { provider_event_id: 'bx-1', delivery_id: stored[0]?.deliveryId },
      { provider_event_id: 'by-1', delivery_id: stored[0]?.deliveryId },
      { provider_event_id: 'bx-3', delivery_id: stored[2]?.deliveryId },
      { provider_event_id: 'bx-2', delivery_id: stored[3]?.deliveryId },
    ]);
    // DEACTIVATED at 1, PORT at 2, REACTIVATED at 3: active again, risk raised by the port.
    assert.deepEqual(await state('batch-x'), await folded('batch-x'));
    assert.deepEqual(await state('batch-x'), { status: 'ACTIVE', riskLevel: 'HIGH' });
    assert.deepEqual(await state('batch-y'), { status: 'ENDED', riskLevel: 'HIGH' });
  });

  it('a batch of replays only stores nothing', async () => {
    const before = await ds.query(
      'SELECT (SELECT count(*) FROM webhook_deliveries) AS d, (SELECT count(*) FROM identity_events) AS e',
    );
    const results = await storeBatch(ds, [
      delivery([event('replay-only', 'ro-1', 'PORT', 1)], 'jti-batch-1'),
      delivery([event('replay-only', 'ro-2', 'PORT', 2)], 'jti-batch-2'),
    ]);
    assert.deepEqual(results, [{ replayed: true }, { replayed: true }]);
    assert.deepEqual(
      await ds.query(
        'SELECT (SELECT count(*) FROM webhook_deliveries) AS d, (SELECT count(*) FROM identity_events) AS e',
      ),
      before,
    );
    assert.equal(await state('replay-only'), null, 'no identity created by a replayed delivery');
  });

  it('on random deliveries committed in batches, 4 at once: the same outcome as one by one', async () => {
    const rand = rng(20261122);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    const identities = Array.from({ length: 30 }, (_, k) => `rand-${k}`);
    const deliveries: DeliveryRecord[] = [];
    let n = 0;
    for (let i = 0; i < 400; i++) {
      const events = Array.from({ length: 1 + Math.floor(rand() * 4) }, () => {
        const type = pick(EVENT_TYPES);
        return event(
          pick(identities),
          `rand-evt-${n++}`,
          type,
          Math.floor(rand() * 6), // few distinct minutes: ties and late events are common
          type.startsWith('VERIFICATION') ? pick(VERIFICATION_STATUSES) : null,
        );
      });
      deliveries.push(delivery(events, rand() < 0.8 ? `rand-jti-${i}` : null));
    }
    // Redeliveries: the same events under a new token (some duplicates), or a replayed token.
    for (let i = 0; i < 80; i++) {
      const original = pick(deliveries);
      const replay = rand() < 0.5 && original.delivery.jti !== null;
      const jti = replay ? original.delivery.jti : `rand-redelivery-${i}`;
      deliveries.push({ ...original, delivery: { ...delivery([], jti).delivery, jti } });
    }
    for (let i = deliveries.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [deliveries[i], deliveries[j]] = [deliveries[j] as DeliveryRecord, deliveries[i] as DeliveryRecord];
    }
    // Through the server's commit queue, so batches form as they do under load (and a batch that meets
    // another in a deadlock is written again delivery by delivery, as in production).
    const sizes: number[] = [];
    const queue = createCommitQueue({
      write: (records) => storeBatch(ds, records),
      concurrency: 4,
      maxDeliveries: 12,
      maxEvents: 2000,
      onBatch: (n) => sizes.push(n),
    });
    const results = await Promise.all(deliveries.map((d) => queue.store(d)));
    const answers = new Map(deliveries.map((d, k) => [d, results[k] as StoreResult]));

    // The mix this seed makes: replays, duplicates, late events (checked so the test keeps its teeth).
    const all = [...answers.values()];
    assert.ok(all.filter((r) => r.replayed).length >= 20, 'replayed deliveries');
    assert.ok(all.filter((r) => !r.replayed && r.duplicates > 0).length >= 20, 'partly duplicate deliveries');
    assert.ok(sizes.filter((n) => n > 1).length >= 20, `batches of several deliveries: ${sizes.join(' ')}`);

    // Each token is accepted once, whatever batch its copies were in.
    const byJti = new Map<string, StoreResult[]>();
    for (const [d, r] of answers)
      if (d.delivery.jti) byJti.set(d.delivery.jti, [...(byJti.get(d.delivery.jti) ?? []), r]);
    for (const [jti, rs] of byJti) assert.equal(rs.filter((r) => !r.replayed).length, 1, jti);

    // Each event carried by a delivery not replayed is stored once, and counted as accepted once.
    const stored = [...answers].filter((e): e is [DeliveryRecord, Stored] => !e[1].replayed);
    const carried = new Set(stored.flatMap(([d]) => d.events.map((e) => e.provider_event_id)));
    const rows: { provider_event_id: string; delivery_id: string }[] = await ds.query(
      `SELECT provider_event_id, delivery_id::text FROM identity_events WHERE provider_event_id LIKE 'rand-evt-%'`,
    );
    assert.equal(rows.length, carried.size, 'every carried event stored, once (the key is unique)');
    assert.ok(rows.every((r) => carried.has(r.provider_event_id)));
    for (const [d, r] of stored) assert.equal(r.accepted + r.duplicates, d.events.length);
    const perDelivery = new Map<string, number>();
    for (const r of rows) perDelivery.set(r.delivery_id, (perDelivery.get(r.delivery_id) ?? 0) + 1);
    for (const [, r] of stored) assert.equal(perDelivery.get(r.deliveryId) ?? 0, r.accepted, r.deliveryId);
    const counts: { id: string; event_count: number; duplicate_count: number }[] = await ds.query(
      'SELECT id::text, event_count, duplicate_count FROM webhook_deliveries WHERE id = ANY ($1::uuid[])',
      [stored.map(([, r]) => r.deliveryId)],
    );
    assert.equal(counts.length, stored.length, 'one row per delivery not replayed');
    const answered = new Map(stored.map(([, r]) => [r.deliveryId, r]));
    for (const c of counts)
      assert.deepEqual(
        [c.event_count, c.duplicate_count],
        [answered.get(c.id)?.accepted, answered.get(c.id)?.duplicates],
      );

    // And every identity's state is the policy's fold over its stored events.
    for (const identity of identities) {
      const s = await state(identity);
      if (s) assert.deepEqual(s, await folded(identity), identity);
    }
  });
});
