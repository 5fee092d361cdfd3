import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';

/**
 * The channel every replica LISTENs on. Its payload is the sending replica's id, so a replica can tell
 * its own commits (already known to it) from others'; events are read by position, never from it.
 */
export const CHANGE_CHANNEL = 'identity_events';

/**
 * Tells every replica's feed that events were committed, after the commit and at most one NOTIFY in
 * flight (docs/adr/0005-ingest-and-feed.md, point 3). `onLocalCommit` runs synchronously on every
 * poke, for what must know of this replica's commits before the writer is answered (the response cache).
 */
export function createChangeNotifier(
  db: DataSource,
  log: Logger,
  opts: { replicaId?: string; onLocalCommit?: () => void } = {},
) {
  let inFlight: Promise<void> | null = null;
  let again = false;

  function send(): Promise<void> {
    again = false;
    inFlight = db
      .query(`SELECT set_config('synchronous_commit', 'off', true), pg_notify('${CHANGE_CHANNEL}', $1)`, [
        opts.replicaId ?? '',
      ])
      .then(
        () => undefined,
        (err: unknown) => log.warn({ err }, 'could not notify the change feed; it will catch up by polling'),
      )
      .finally(() => {
        inFlight = null;
        if (again) void send();
      });
    return inFlight;
  }

  return {
    /** Events were committed: this replica reacts now (onLocalCommit), and a NOTIFY follows. */
    poke(): void {
      opts.onLocalCommit?.();
      if (inFlight) again = true;
      else void send();
    },
    /** Waits for the NOTIFY in flight, if any. */
    async flush(): Promise<void> {
      while (inFlight) await inFlight;
    },
  };
}

export type ChangeNotifier = ReturnType<typeof createChangeNotifier>;
