import {
  decodeCursor,
  decodeEventCursor,
  type EventPosition,
  encodeCursor,
  InvalidCursorError,
} from '../domain/cursor.js';
import { badInput } from './errors.js';

/** Page size when `first` is not given (contract: `first: Int = 20`). */
export const DEFAULT_FIRST = 20;
/** Contract: "`first` is capped at 100". */
export const MAX_FIRST = 100;

/**
 * The number of rows a page shows. Below 1 is refused; above the cap is served at the cap (the contract
 * says capped, not refused), so `hasNextPage` tells the caller there is more. An explicit null is the default.
 */
export function pageSize(first: number | null | undefined): number {
  if (first === null || first === undefined) return DEFAULT_FIRST;
  if (!Number.isInteger(first) || first < 1) throw badInput(`first must be between 1 and ${MAX_FIRST}`);
  return Math.min(first, MAX_FIRST);
}

/** Runs a cursor decoder, turning a malformed or foreign cursor into BAD_USER_INPUT. */
function decodeAfter<T>(after: string | null | undefined, decode: (cursor: string) => T): T | null {
  if (after === null || after === undefined) return null;
  try {
    return decode(after);
  } catch (err) {
    if (err instanceof InvalidCursorError) throw badInput(`after: ${err.message}`);
    throw err;
  }
}

/** `after` of an event list: a position in the one global event order (docs/adr/0003-event-order.md). */
export function eventAfter(after: string | null | undefined): EventPosition | null {
  return decodeAfter(after, decodeEventCursor);
}

/**
 * Position in a list ordered by (timestamp DESC, uuid DESC). The timestamp is kept as integer
 * microseconds since the epoch, as PostgreSQL stores it: a JS Date (ms) would skip or repeat rows.
 */
export interface TimePosition {
  /** Microseconds since 1970-01-01T00:00:00Z, as a decimal string (computed in SQL). */
  us: string;
  id: string;
}

const MICROS = /^-?\d{1,19}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function encodeTimeCursor(kind: 'identity' | 'delivery', p: TimePosition): string {
  return encodeCursor(kind, [p.us, p.id]);
}

/** `after` of an identity or delivery list. */
export function timeAfter(
  kind: 'identity' | 'delivery',
  after: string | null | undefined,
): TimePosition | null {
  return decodeAfter(after, (cursor) => {
    const [us, id] = decodeCursor(kind, cursor, 2);
    if (!us || !id || !MICROS.test(us) || !UUID.test(id)) throw new InvalidCursorError('cursor is malformed');
    return { us, id };
  });
}

/** What a list query returns: up to `limit + 1` edges, the extra one only telling there is a next page. */
export interface Edge<N> {
  cursor: string;
  node: N;
}

export interface Connection<N> {
  edges: Edge<N>[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** Cuts a `limit + 1` fetch down to a Relay connection. */
export function toConnection<N>(edges: Edge<N>[], limit: number): Connection<N> {
  const page = edges.slice(0, limit);
  return {
    edges: page,
    pageInfo: { hasNextPage: edges.length > limit, endCursor: page.at(-1)?.cursor ?? null },
  };
}
