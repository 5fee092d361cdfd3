import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toConnection } from '../../src/data/page.js';
import { encodeCursor, encodeEventCursor, encodeTimeCursor } from '../../src/domain/cursor.js';
import { ApiError } from '../../src/graphql/errors.js';
import { eventAfter, pageSize, timeAfter } from '../../src/graphql/pagination.js';

const badUserInput = (message: RegExp) => (err: unknown) =>
  err instanceof ApiError && err.extensions.code === 'BAD_USER_INPUT' && message.test(err.message);

describe('pagination', () => {
  it('defaults first to 20, caps it at 100 and refuses less than 1', () => {
    assert.equal(pageSize(undefined), 20);
    assert.equal(pageSize(null), 20);
    assert.equal(pageSize(1), 1);
    assert.equal(pageSize(100), 100);
    assert.equal(pageSize(101), 100);
    assert.equal(pageSize(2 ** 31 - 1), 100);
    for (const bad of [0, -1, 1.5]) {
      assert.throws(() => pageSize(bad), badUserInput(/^first must be between 1 and 100$/), String(bad));
    }
  });

  it('round-trips identity and delivery positions and refuses foreign or tampered ones', () => {
    const p = { us: '1735776000000001', id: '8b0e7d3c-5a3b-4f57-9a2b-1c2d3e4f5a6b' };
    assert.deepEqual(timeAfter('identity', encodeTimeCursor('identity', p)), p);
    assert.deepEqual(timeAfter('delivery', encodeTimeCursor('delivery', p)), p);
    assert.equal(timeAfter('identity', null), null);
    assert.throws(
      () => timeAfter('identity', encodeTimeCursor('delivery', p)),
      badUserInput(/expected a identity cursor/),
    );
    for (const bad of [
      encodeCursor('identity', ['1.5', p.id]),
      encodeCursor('identity', [p.us, 'nope']),
      encodeCursor('identity', [p.us]),
      'not base64!',
    ]) {
      assert.throws(() => timeAfter('identity', bad), badUserInput(/^after: cursor/), bad);
    }
  });

  it('decodes an event position and refuses another list’s cursor', () => {
    assert.deepEqual(eventAfter(encodeEventCursor({ txId: '900', id: '7' })), { txId: '900', id: '7' });
    assert.throws(
      () => eventAfter(encodeTimeCursor('identity', { us: '1', id: '8b0e7d3c-5a3b-4f57-9a2b-1c2d3e4f5a6b' })),
      badUserInput(/expected a event cursor/),
    );
  });

  it('cuts a limit + 1 fetch into a page with hasNextPage and endCursor', () => {
    const edges = ['a', 'b', 'c'].map((x) => ({ cursor: x, node: x }));
    assert.deepEqual(toConnection(edges, 2), {
      edges: edges.slice(0, 2),
      pageInfo: { hasNextPage: true, endCursor: 'b' },
    });
    assert.deepEqual(toConnection(edges, 3).pageInfo, { hasNextPage: false, endCursor: 'c' });
    assert.deepEqual(toConnection([], 3), { edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
  });
});
