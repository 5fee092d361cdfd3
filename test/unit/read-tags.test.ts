import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Connection } from '../../src/data/page.js';
import { encodeTimeCursor } from '../../src/domain/cursor.js';
import type { IdentityRecord } from '../../src/domain/records.js';
import { ReadTags, recordIdentitiesRead, UNRECORDED } from '../../src/graphql/read-tags.js';

const A = '00000000-0000-4000-8000-00000000000a';
const B = '00000000-0000-4000-8000-00000000000b';
const C = '00000000-0000-4000-8000-00000000000c';

/** A page of identities created at the given µs, newest first. */
function page(created: [string, number][], hasNextPage: boolean): Connection<IdentityRecord> {
  const edges = created.map(([id, us]) => ({
    cursor: encodeTimeCursor('identity', { us: String(us), id }),
    node: { id } as IdentityRecord,
  }));
  return { edges, pageInfo: { hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
}
const change = (...ids: [string, number][]) => ({
  identities: ids.map(([id, us]) => ({ id, createdUs: String(us) })),
});

describe('ReadTags', () => {
  it('is affected by a change to an identity it read, and by nothing else', () => {
    const t = new ReadTags();
    t.identity(A);
    assert.equal(t.affectedBy(change([A, 5])), true);
    assert.equal(t.affectedBy(change([B, 5], [C, 6])), false);
    assert.equal(t.affectedBy(null), true, 'an unknown change may alter anything');
  });

  it('reads every commit for a list whose membership any commit can change', () => {
    const t = new ReadTags();
    t.anyCommit = true;
    assert.equal(t.affectedBy(change([B, 1])), true);
  });

  it('takes an unfiltered first page to change when an identity created at or after its oldest appears', () => {
    const t = new ReadTags();
    recordIdentitiesRead(
      t,
      page(
        [
          [A, 300],
          [B, 200],
        ],
        true,
      ),
      { filtered: false, paged: false },
    );
    assert.deepEqual([...t.identities], [A, B]);
    assert.equal(t.affectedBy(change([C, 250])), true, 'newer than the oldest on the page: it joins');
    assert.equal(t.affectedBy(change([C, 200])), true, 'as old as the oldest: ties sort by id');
    assert.equal(t.affectedBy(change([C, 199])), false, 'older: it sorts after the page');
    assert.equal(t.affectedBy(change([B, 200])), true, 'one of its own');
  });

  it('takes a first page holding every identity to change with any identity', () => {
    const t = new ReadTags();
    recordIdentitiesRead(t, page([[A, 300]], false), { filtered: false, paged: false });
    assert.equal(t.affectedBy(change([C, -5])), true);
    const empty = new ReadTags();
    recordIdentitiesRead(empty, page([], false), { filtered: false, paged: false });
    assert.equal(empty.affectedBy(change([C, 0])), true);
  });

  it('takes a page after a cursor to change only with its own identities, a filtered page with any commit', () => {
    const after = new ReadTags();
    recordIdentitiesRead(after, page([[A, 300]], true), { filtered: false, paged: true });
    assert.equal(after.affectedBy(change([C, 9_999])), false);
    assert.equal(after.affectedBy(change([A, 300])), true);
    const filtered = new ReadTags();
    recordIdentitiesRead(filtered, page([[A, 300]], true), { filtered: true, paged: false });
    assert.equal(filtered.affectedBy(change([C, 1])), true);
  });

  it('keeps the lowest floor of several first pages', () => {
    const t = new ReadTags();
    t.firstPage(500n);
    t.firstPage(100n);
    t.firstPage(300n);
    assert.equal(t.firstPageFloorUs, 100n);
  });

  it('records nothing for operations that are never cached', () => {
    UNRECORDED.identity(A);
    UNRECORDED.firstPage(1n);
    assert.deepEqual([UNRECORDED.identities.size, UNRECORDED.firstPageFloorUs], [0, null]);
  });
});
