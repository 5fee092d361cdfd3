import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { type DataChange, mergeChanges } from '../domain/data-change.js';

/**
 * The channel every replica LISTENs on. Its payload is the sending replica's id, so a replica can tell
 * its own commits (already known to it) from others', then what changed when that fits (for the
 * response cache); events are read by position, never from it.
 */
export const CHANGE_CHANNEL = 'identity_events';

/** PostgreSQL refuses NOTIFY payloads of 8,000 bytes and more; a longer change is sent as unknown. */
const MAX_PAYLOAD = 7_900;

/** `<replica>` alone (anything may have changed), or `<replica>\n<id> <createdUs>,…`. */
export function encodeChangePayload(replicaId: string, change: DataChange | null): string {
  if (change === null) return replicaId;
  const payload = `${replicaId}\n${change.identities.map((i) => `${i.id} ${i.createdUs}`).join(',')}`;
  return payload.length < MAX_PAYLOAD ? payload : replicaId;
}

const CHANGED = /^[0-9a-f-]{36} -?\d{1,19}$/;

/** A payload back to its sender and change; anything not as encodeChangePayload writes is unknown. */
export function decodeChangePayload(payload: string): { replicaId: string; change: DataChange | null } {
  const [replicaId = '', list] = payload.split('\n', 2);
  if (list === undefined) return { replicaId, change: null };
  const items = list === '' ? [] : list.split(',');
  if (!items.every((i) => CHANGED.test(i))) return { replicaId, change: null };
  return {
    replicaId,
    change: {
      identities: items.map((i) => {
        const [id = '', createdUs = ''] = i.split(' ');
        return { id, createdUs };
      }),
    },
  };
}

/**
 * Tells every replica's feed that events were committed, after the commit and at most one NOTIFY in
 * flight (docs/adr/0005-ingest-and-feed.md, point 3). `onLocalCommit` runs synchronously on every
 * poke, for what must know of this replica's commits before the writer is answered (the response cache).
 */
export function createChangeNotifier(
  db: DataSource,
  log: Logger,
  opts: { replicaId?: string; onLocalCommit?: (change: DataChange | null) => void } = {},
) {
  let inFlight: Promise<void> | null = null;
  /** What the pokes since the last NOTIFY changed (undefined: none waits). */
  let pending: DataChange | null | undefined;

  function send(): Promise<void> {
    const change = pending ?? null;
    pending = undefined;
    inFlight = db
      .query(`SELECT set_config('synchronous_commit', 'off', true), pg_notify('${CHANGE_CHANNEL}', $1)`, [
        encodeChangePayload(opts.replicaId ?? '', change),
      ])
      .then(
        () => undefined,
        (err: unknown) => log.warn({ err }, 'could not notify the change feed; it will catch up by polling'),
      )
      .finally(() => {
        inFlight = null;
        if (pending !== undefined) void send();
      });
    return inFlight;
  }

  return {
    /**
     * Events were committed (changing what `change` says; null: unknown): this replica reacts now
     * (onLocalCommit), and a NOTIFY follows, carrying the changes of every poke it folds in.
     */
    poke(change: DataChange | null = null): void {
      opts.onLocalCommit?.(change);
      pending = pending === undefined ? change : mergeChanges(pending, change);
      if (!inFlight) void send();
    },
    /** Waits for the NOTIFY in flight, if any. */
    async flush(): Promise<void> {
      while (inFlight) await inFlight;
    },
  };
}

export type ChangeNotifier = ReturnType<typeof createChangeNotifier>;
