import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeCursor,
  decodeEventCursor,
  encodeCursor,
  encodeEventCursor,
  InvalidCursorError,
} from '../../src/domain/cursor.js';

describe('cursors', () => {
  it('round-trip an event position', () => {
    const c = encodeEventCursor({ txId: '745', id: '12' });
    assert.match(c, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodeEventCursor(c), { txId: '745', id: '12' });
  });

  it('refuse malformed, tampered and foreign cursors', () => {
    const identity = encodeCursor('identity', ['1700000000000000', 'abc']);
    for (const bad of [
      '',
      '!!!',
      'x'.repeat(300),
      identity,
      encodeCursor('event', ['1']),
      encodeCursor('event', ['a', '1']),
      encodeCursor('event', ['1', "1' OR 1=1"]),
      encodeCursor('event', ['-1', '2']),
    ]) {
      assert.throws(() => decodeEventCursor(bad), InvalidCursorError, bad);
    }
    assert.deepEqual(decodeCursor('identity', identity, 2), ['1700000000000000', 'abc']);
  });
});
