/**
 * Opaque Relay cursors: base64url of `<kind>:<part>:<part>…`. The kind keeps a cursor of one list
 * from being passed to another; parts are validated so a tampered cursor is refused, never sent to SQL.
 */

export type CursorKind = 'event' | 'identity' | 'delivery';

export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
}

const PART = /^[0-9A-Za-z._-]{1,64}$/;

export function encodeCursor(kind: CursorKind, parts: readonly string[]): string {
  return Buffer.from([kind, ...parts].join(':'), 'utf8').toString('base64url');
}

export function decodeCursor(kind: CursorKind, cursor: string, arity: number): string[] {
  if (cursor.length === 0 || cursor.length > 256 || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw new InvalidCursorError('cursor is malformed');
  }
  const [k, ...parts] = Buffer.from(cursor, 'base64url').toString('utf8').split(':');
  if (k !== kind) {
    throw new InvalidCursorError(`cursor does not belong to this list (expected a ${kind} cursor)`);
  }
  if (parts.length !== arity || !parts.every((p) => PART.test(p))) {
    throw new InvalidCursorError('cursor is malformed');
  }
  return parts;
}

/** Position of an event in the one global order (docs/adr/0003-event-order.md): writer transaction, then id. */
export interface EventPosition {
  /** xid8 of the transaction that stored the event, as a decimal string. */
  txId: string;
  /** The event's bigint id, as a decimal string. */
  id: string;
}

const DECIMAL = /^(0|[1-9]\d{0,19})$/;

export function encodeEventCursor(p: EventPosition): string {
  return encodeCursor('event', [p.txId, p.id]);
}

export function decodeEventCursor(cursor: string): EventPosition {
  const [txId, id] = decodeCursor('event', cursor, 2);
  if (!txId || !id || !DECIMAL.test(txId) || !DECIMAL.test(id))
    throw new InvalidCursorError('cursor is malformed');
  return { txId, id };
}

/** Orders two event positions: negative when a comes first. */
export function comparePositions(a: EventPosition, b: EventPosition): number {
  const ta = BigInt(a.txId);
  const tb = BigInt(b.txId);
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ia = BigInt(a.id);
  const ib = BigInt(b.id);
  return ia === ib ? 0 : ia < ib ? -1 : 1;
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

export function decodeTimeCursor(kind: 'identity' | 'delivery', cursor: string): TimePosition {
  const [us, id] = decodeCursor(kind, cursor, 2);
  if (!us || !id || !MICROS.test(us) || !UUID.test(id)) throw new InvalidCursorError('cursor is malformed');
  return { us, id };
}
