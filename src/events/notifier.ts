import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';

/** The channel every replica LISTENs on; its payload is empty: listeners read new events by position. */
export const CHANGE_CHANNEL = 'identity_events';

/**
 * Tells every replica's feed that events were committed, after the commit (docs/adr/0005-change-feed.md).
 * NOTIFY inside the ingest transaction would hold PostgreSQL's cluster-wide notify lock through each
 * commit's WAL flush and serialise all commits; here at most one NOTIFY is in flight per replica, and
 * pokes that arrive meanwhile are folded into one more. A NOTIFY lost to a crash between commit and
 * poke is made good by the feed's periodic poll.
 */
export function createChangeNotifier(db: DataSource, log: Logger) {
  let inFlight: Promise<void> | null = null;
  let again = false;

  function send(): Promise<void> {
    again = false;
    inFlight = db
      .query(`SELECT pg_notify('${CHANGE_CHANNEL}', '')`)
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
    /** Events were committed: make sure a NOTIFY follows. */
    poke(): void {
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
