import type { DataSource } from 'typeorm';
import { readFeedPage } from '../data/feed.queries.js';
import { comparePositions, type EventPosition } from '../domain/cursor.js';
import type { EventCriteria } from '../domain/event-criteria.js';
import type { FeedEvent } from '../domain/records.js';
import type { ChangeFeed } from './feed.js';
import { SubscriptionQueue } from './subscription-queue.js';

/** Live events held during a resume's replay, as a multiple of the live buffer (a 10,000-event replay takes ~1 s). */
const STAGED_FACTOR = 20;
const REPLAY_PAGE = 1000;

export interface EventStreamOptions {
  feed: ChangeFeed;
  db: DataSource;
  criteria: EventCriteria;
  /** Resume strictly after this position; null for events stored from now on. */
  after: EventPosition | null;
  /** The subscriber fell too far behind: close its socket with a retryable code. */
  onOverflow: () => void;
}

/**
 * One subscription's events: with `after`, every stored matching event after it, in order, then live
 * ones; no gap and no duplicate at the hand-over. The live side is registered first and its position
 * P read in the same tick; the replay reads (after, P] from the table, and every live event is > P.
 * Live events that arrive during the replay wait (bounded) and follow it.
 */
export function openEventStream(opts: EventStreamOptions): AsyncIterableIterator<FeedEvent> {
  let replaying = true;
  /** Where this subscription starts; known once the stream runs (before it, everything is staged). */
  let start: EventPosition = { txId: '0', id: '-1' };
  const isNew = (e: FeedEvent) => comparePositions({ txId: e.txId, id: e.id }, start) > 0;
  const staged: FeedEvent[] = [];
  let removed = false;
  const queue = new SubscriptionQueue<FeedEvent>(() => remove());
  const remove = opts.feed.add({
    criteria: opts.criteria,
    // A live event at or before the start was stored before this subscription began: not for it.
    deliver: (e) => (replaying ? staged.push(e) > 0 : !isNew(e) || queue.push(e)),
    // A replay may take a while: the live events meanwhile get STAGED_FACTOR times the room.
    backlog: () => (replaying ? Math.floor(staged.length / STAGED_FACTOR) : queue.length),
    overflow: () => {
      staged.length = 0;
      queue.close();
      opts.onOverflow();
    },
    close: () => queue.close(),
  });
  const upTo = opts.feed.current;

  async function* stream(): AsyncGenerator<FeedEvent> {
    try {
      // Without `after`, the start is the newest event visible now: the feed may not have handed out
      // everything stored before this moment yet, and those must not reach a subscriber of "from now on".
      start = opts.after ?? (await opts.feed.startPosition());
      let position: EventPosition | null = comparePositions(start, upTo) < 0 ? start : null;
      const pacer = opts.feed.replayPacer;
      while (position) {
        const after = position;
        const page = await pacer.read(() => readFeedPage(opts.db, after, upTo, opts.criteria, REPLAY_PAGE));
        for (const e of page) {
          if (queue.closed) return;
          yield e;
          await pacer.turn();
        }
        const last = page.at(-1);
        position = page.length === REPLAY_PAGE && last ? { txId: last.txId, id: last.id } : null;
      }
      replaying = false;
      while (staged.length && !queue.closed) {
        const e = staged.shift() as FeedEvent;
        if (isNew(e)) yield e;
        await pacer.turn();
      }
      yield* queue;
    } finally {
      if (!removed) {
        removed = true;
        queue.close();
        remove();
      }
    }
  }
  const events = stream();
  // A generator waiting for its next event takes return() only once that event comes, which for a
  // filter nothing matches is never: the subscription would stay in the feed after its client ended it,
  // and a socket could pile up any number past its limit. Closing the queue first ends the wait.
  const iterator: AsyncIterableIterator<FeedEvent> = {
    next: () => events.next(),
    return: () => {
      queue.close();
      return events.return(undefined);
    },
    throw: (err: unknown) => {
      queue.close();
      return events.throw(err);
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}
