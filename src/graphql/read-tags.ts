import type { Connection } from '../data/page.js';
import { decodeTimeCursor } from '../domain/cursor.js';
import type { DataChange } from '../domain/data-change.js';
import type { IdentityRecord } from '../domain/records.js';

/** A first-page floor below any created_at: the page holds every identity, so any new one joins it. */
const EVERY_IDENTITY = -(2n ** 63n);

/**
 * What one GraphQL answer read, recorded by the resolvers and loaders as they read it, so the response
 * cache drops the answer only when a commit touched that (docs/adr/0008-response-cache.md).
 */
export class ReadTags {
  /** Identities whose row or events the answer shows. */
  readonly identities = new Set<string>();
  /** Lists whose membership any commit can change: unfiltered events, filtered identities, counts. */
  anyCommit = false;
  /**
   * For an unfiltered first page of identities: the created_at (µs) of its oldest identity, or below
   * any when the page holds every identity. An identity created at or after it belongs on the page. The lowest
   * floor wins when an answer has several such pages.
   */
  firstPageFloorUs: bigint | null = null;

  identity(id: string): void {
    this.identities.add(id);
  }

  firstPage(floorUs: bigint): void {
    if (this.firstPageFloorUs === null || floorUs < this.firstPageFloorUs) this.firstPageFloorUs = floorUs;
  }

  /** Whether the change may alter what was read; a null change alters everything. */
  affectedBy(change: DataChange | null): boolean {
    if (change === null || this.anyCommit) return true;
    const floor = this.firstPageFloorUs;
    return change.identities.some(
      (i) => this.identities.has(i.id) || (floor !== null && BigInt(i.createdUs) >= floor),
    );
  }
}

/** Whether an identities filter narrows the list (a null or absent field does not). */
export function isFiltering(filter: object | null | undefined): boolean {
  return filter != null && Object.values(filter).some((v) => v != null);
}

/**
 * Records an identities page: its identities, and how commits can change which are on it. A filtered
 * page changes with any commit (a status or risk level moves an identity in or out); an unfiltered one
 * after a cursor only with its own identities (newer ones sort before the cursor); an unfiltered first
 * page also when an identity created at or after its oldest one appears.
 */
export function recordIdentitiesRead(
  reads: ReadTags,
  page: Connection<IdentityRecord>,
  how: { filtered: boolean; paged: boolean },
): void {
  for (const edge of page.edges) reads.identity(edge.node.id);
  if (how.filtered) reads.anyCommit = true;
  else if (!how.paged) {
    const last = page.edges.at(-1);
    reads.firstPage(
      page.pageInfo.hasNextPage && last
        ? BigInt(decodeTimeCursor('identity', last.cursor).us)
        : EVERY_IDENTITY,
    );
  }
}

/**
 * For operations whose answers are never cached (subscriptions over WebSocket): a subscription lives
 * for hours and would otherwise collect every identity it ever showed.
 */
class UnrecordedReads extends ReadTags {
  override identity(): void {}
  override firstPage(): void {}
}

export const UNRECORDED: ReadTags = new UnrecordedReads();
