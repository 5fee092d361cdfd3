import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Replay pages read at once per replica: well below the pool's 20 connections, which webhook commits
 * and queries need. Measured (test/api/ws-limits.test.ts, 200 replays): 4 let a commit wait up to 1.3 s.
 */
export const REPLAY_READS = 2;

/**
 * Replays' bounded share of a replica. Reads: at most REPLAY_READS pages at once, the others wait their
 * turn, first come first served. The event loop: a socket write that completes at once resolves without
 * leaving the microtask queue, so 200 replays handed out their pages back to back, for seconds, reading
 * no request meanwhile (a webhook waited 6 to 11 s); `turn` gives the loop its turn after every replayed
 * event (the storm then takes about 40% longer).
 */
export class ReplayPacer {
  private reading = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly reads = REPLAY_READS) {}

  /** Runs one replay read once a read slot is free. */
  async read<T>(fn: () => Promise<T>): Promise<T> {
    if (this.reading < this.reads) this.reading++;
    // Else wait for a slot handed over by a finished read, which leaves `reading` as it is.
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.reading--;
    }
  }

  /** Awaited after each replayed event: I/O (webhooks, queries, other sockets) goes first. */
  turn(): Promise<void> {
    return nextTurn();
  }
}
