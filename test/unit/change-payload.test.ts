import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mergeChanges } from '../../src/domain/data-change.js';
import { decodeChangePayload, encodeChangePayload } from '../../src/feed/notifier.js';

const A = { id: '00000000-0000-4000-8000-00000000000a', createdUs: '1764590000000000' };
const B = { id: '00000000-0000-4000-8000-00000000000b', createdUs: '-5' };

describe('the change NOTIFY payload', () => {
  it('carries the replica and what changed, and reads back the same', () => {
    for (const change of [{ identities: [A, B] }, { identities: [] }, null]) {
      assert.deepEqual(decodeChangePayload(encodeChangePayload('replica-1', change)), {
        replicaId: 'replica-1',
        change,
      });
    }
  });

  it('sends a change too long for NOTIFY as unknown, so a reader drops everything', () => {
    const many = Array.from({ length: 300 }, (_, k) => ({
      ...A,
      id: A.id.replace(/a$/, k.toString(16)).slice(-36),
    }));
    const payload = encodeChangePayload('replica-1', { identities: many });
    assert.ok(payload.length < 8000);
    assert.deepEqual(decodeChangePayload(payload), { replicaId: 'replica-1', change: null });
  });

  it('reads a payload it cannot parse (an older replica sends its id alone) as an unknown change', () => {
    assert.deepEqual(decodeChangePayload('replica-2'), { replicaId: 'replica-2', change: null });
    assert.deepEqual(decodeChangePayload('replica-2\nnot a change'), {
      replicaId: 'replica-2',
      change: null,
    });
    assert.deepEqual(decodeChangePayload(''), { replicaId: '', change: null });
  });

  it('merges changes, unknown as soon as one is', () => {
    assert.deepEqual(mergeChanges({ identities: [A] }, { identities: [B, A] }), { identities: [A, B] });
    assert.equal(mergeChanges({ identities: [A] }, null), null);
    assert.equal(mergeChanges(null, { identities: [A] }), null);
  });
});
