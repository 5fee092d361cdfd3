import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IngestEventRow } from '../../src/data/ingest-rows.js';
import { createCommitQueue } from '../../src/ingest/commit-queue.js';
import type { DeliveryRecord } from '../../src/ingest/delivery-record.js';
import type { StoreResult } from '../../src/ingest/store.js';

/** A record carrying `events` events, told apart by its correlation id. */
function record(name: string, events = 1): DeliveryRecord {
  return {
    delivery: {
      provider: 'PROVE',
      receivedAt: new Date(0).toISOString(),
      outcome: 'accepted',
      correlationId: name,
      bodySha256: '0'.repeat(64),
      jti: null,
      jtiExpiresAt: null,
      rejected: [],
    },
    events: Array.from({ length: events }, (_, ord) => ({ ord }) as IngestEventRow),
    summaries: [],
  };
}

const nameOf = (r: DeliveryRecord) => r.delivery.correlationId as string;

/**
 * A writer that holds each batch until released, so a test decides when commits finish; it answers
 * each record with its name as the delivery id, or fails the batch when it holds a record named "bad".
 */
function heldWriter() {
  const calls: { names: string[]; release: () => void }[] = [];
  const write = (records: DeliveryRecord[]) =>
    new Promise<StoreResult[]>((resolve, reject) => {
      const names = records.map(nameOf);
      calls.push({
        names,
        release: () =>
          names.includes('bad')
            ? reject(new Error('check constraint violated'))
            : resolve(
                names.map((n) => ({
                  replayed: false,
                  deliveryId: n,
                  accepted: 1,
                  duplicates: 0,
                  changed: { identities: [] },
                })),
              ),
      });
    });
  return { calls, write };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('commit queue (group commit of webhook deliveries)', () => {
  it('writes a delivery at once when a writer is free, and those arriving meanwhile together, in order', async () => {
    const w = heldWriter();
    const sizes: number[] = [];
    const q = createCommitQueue({
      write: w.write,
      concurrency: 1,
      maxDeliveries: 50,
      maxEvents: 2000,
      onBatch: (n) => sizes.push(n),
    });
    const first = q.store(record('a'));
    await tick();
    assert.deepEqual(
      w.calls.map((c) => c.names),
      [['a']],
      'no waiting for company',
    );
    const rest = ['b', 'c', 'd'].map((n) => q.store(record(n)));
    await tick();
    assert.equal(w.calls.length, 1, 'the only writer is busy');
    assert.equal(q.waiting, 3);
    w.calls[0]?.release();
    assert.equal(((await first) as { deliveryId: string }).deliveryId, 'a');
    await tick();
    assert.deepEqual(w.calls[1]?.names, ['b', 'c', 'd']);
    w.calls[1]?.release();
    const answers = (await Promise.all(rest)) as { deliveryId: string }[];
    assert.deepEqual(
      answers.map((r) => r.deliveryId),
      ['b', 'c', 'd'],
      'each caller gets its own answer',
    );
    assert.deepEqual(sizes, [1, 3]);
    assert.equal(q.waiting, 0);
  });

  it('keeps at most `concurrency` batches in flight', async () => {
    const w = heldWriter();
    const q = createCommitQueue({ write: w.write, concurrency: 2, maxDeliveries: 50, maxEvents: 2000 });
    const all = ['a', 'b', 'c', 'd', 'e'].map((n) => q.store(record(n)));
    await tick();
    assert.deepEqual(
      w.calls.map((c) => c.names),
      [['a'], ['b']],
    );
    w.calls[1]?.release();
    await tick();
    await tick();
    assert.deepEqual(w.calls[2]?.names, ['c', 'd', 'e']);
    assert.equal(w.calls.length, 3);
    for (const c of w.calls) c.release();
    assert.equal((await Promise.all(all)).length, 5);
  });

  it('cuts batches at maxDeliveries and at maxEvents, but never leaves a large delivery behind', async () => {
    const w = heldWriter();
    const q = createCommitQueue({ write: w.write, concurrency: 1, maxDeliveries: 3, maxEvents: 150 });
    const all = [q.store(record('hold'))];
    await tick();
    for (const [n, events] of [
      ['a', 1],
      ['b', 1],
      ['c', 1],
      ['d', 1],
      ['e', 100],
      ['f', 100],
      ['g', 400],
      ['h', 1],
    ] as const)
      all.push(q.store(record(n, events)));
    for (let i = 0; i < 6; i++) {
      w.calls[i]?.release();
      await tick();
      await tick();
    }
    assert.deepEqual(
      w.calls.map((c) => c.names),
      [['hold'], ['a', 'b', 'c'], ['d', 'e'], ['f'], ['g'], ['h']],
    );
    assert.equal((await Promise.all(all)).length, 9);
  });

  it('when a batch fails, writes each delivery alone and refuses only the one that fails alone', async () => {
    const w = heldWriter();
    const q = createCommitQueue({ write: w.write, concurrency: 1, maxDeliveries: 50, maxEvents: 2000 });
    const hold = q.store(record('hold'));
    await tick();
    const settled = Promise.allSettled(['a', 'bad', 'c'].map((n) => q.store(record(n))));
    w.calls[0]?.release();
    await hold;
    await tick();
    assert.deepEqual(w.calls[1]?.names, ['a', 'bad', 'c']);
    w.calls[1]?.release(); // fails: 'bad' is in it
    await tick();
    await tick();
    assert.deepEqual(
      w.calls.slice(2).map((c) => c.names),
      [['a'], ['bad'], ['c']],
    );
    for (const c of w.calls.slice(2)) c.release();
    const results = await settled;
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled'],
    );
    assert.match(String((results[1] as PromiseRejectedResult).reason), /check constraint/);
    // The queue goes on.
    const next = q.store(record('z'));
    await tick();
    w.calls.at(-1)?.release();
    assert.equal(((await next) as { deliveryId: string }).deliveryId, 'z');
  });
});
