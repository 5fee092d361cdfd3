import {
  decodeEventCursor,
  decodeTimeCursor,
  type EventPosition,
  InvalidCursorError,
  type TimePosition,
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

/** `after` of an identity or delivery list. */
export function timeAfter(
  kind: 'identity' | 'delivery',
  after: string | null | undefined,
): TimePosition | null {
  return decodeAfter(after, (cursor) => decodeTimeCursor(kind, cursor));
}
