import pg from 'pg';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { endPosition, readChangedIdentities, readFeedPage } from '../data/feed.queries.js';
import { comparePositions, type EventPosition } from '../domain/cursor.js';
import type { DataChange } from '../domain/data-change.js';
import type { EventCriteria } from '../domain/event-criteria.js';
import type { FeedEvent } from '../domain/records.js';
import type { Metrics } from '../observability/metrics.js';
import { CHANGE_CHANNEL, decodeChangePayload } from './notifier.js';
import { ReplayPacer } from './replay-pacer.js';

/** How many events one read takes; the feed reads again at once while pages come back full. */
const PAGE = 1000;

export type FeedMetrics = Pick<Metrics, 'feedLag' | 'feedFannedOut' | 'feedSubscriptions' | 'feedOverflows'>;

export interface FeedSubscriber {
  criteria: EventCriteria;
  /** Takes a matching event; false when it was not taken (closed). */
  deliver(e: FeedEvent): boolean;
  /** Events handed over but not yet sent to the client. */
  backlog(): number;
  /** Too far behind: stop taking events and have the client resume from its cursor. */
  overflow(): void;
  /** The feed is stopping. */
  close(): void;
}

export interface ChangeFeedOptions {
  db: DataSource;
  /** For the dedicated LISTEN connection, which never comes from the pool. */
  connectionString: string;
  log: Logger;
  metrics: FeedMetrics;
  /** Fallback read interval: a missed or coalesced NOTIFY, or a dropped listener, costs at most this. */
  pollMs?: number;
  /** Live events buffered per subscription before it counts as too far behind (default 1000). */
  bufferLimit?: number;
  /**
   * Called whenever data may have changed (the response cache empties): on a NOTIFY from another
   * replica, which has just committed, and with every page of new events, before they are handed out
   * (the horizon has passed them, so queries now see them).
   */
  onChange?: (change: DataChange | null) => void;
  /** This replica's NOTIFY payload (createChangeNotifier): its own commits need no onChange here. */
  replicaId?: string;
}

/** The identities a page of events touched. */
function changeOf(events: readonly FeedEvent[]): DataChange {
  const byId = new Map(
    events.map((e) => [e.identityId, { id: e.identityId, createdUs: e.identityCreatedUs }]),
  );
  return { identities: [...byId.values()] };
}

export function matches(c: EventCriteria, e: FeedEvent): boolean {
  return (
    (c.identityId === null || c.identityId === e.identityId) &&
    (c.types === null || c.types.includes(e.type)) &&
    (c.providers === null || c.providers.includes(e.provider)) &&
    (c.occurredAfter === null || e.occurredAt.getTime() >= c.occurredAfter.getTime()) &&
    (c.occurredBefore === null || e.occurredAt.getTime() < c.occurredBefore.getTime())
  );
}

/**
 * One replica's change feed (docs/adr/0005-ingest-and-feed.md). Woken by NOTIFY on a dedicated connection
 * (or by its poll), it reads the events committed since its position, in (tx_id, id) order behind the
 * visibility horizon (docs/adr/0003-event-order.md), and hands each to every matching subscriber of
 * this process. The notification payload is never trusted: positions are.
 */
export class ChangeFeed {
  private position: EventPosition = { txId: '0', id: '-1' };
  private readonly subscribers = new Set<FeedSubscriber>();
  private listener: pg.Client | null = null;
  private reading: Promise<void> | null = null;
  private readAgain = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** This replica's replays share its pool and event loop through this (src/feed/replay-pacer.ts). */
  readonly replayPacer = new ReplayPacer();

  constructor(private readonly opts: ChangeFeedOptions) {}

  private endQuery: Promise<EventPosition> | null = null;

  /**
   * Where a subscription without `after` starts: the newest visible event now. Subscriptions arriving
   * together share one query (10,000 at once would otherwise queue behind the pool and start late).
   */
  startPosition(): Promise<EventPosition> {
    this.endQuery ??= endPosition(this.opts.db).finally(() => {
      this.endQuery = null;
    });
    return this.endQuery;
  }

  /** The position up to which events have been handed out: replays end here, live delivery starts after. */
  get current(): EventPosition {
    return this.position;
  }

  get bufferLimit(): number {
    return this.opts.bufferLimit ?? 1000;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  async start(): Promise<void> {
    // Everything below the horizon now is history (a subscriber replays it from the table); anything
    // from a transaction still running, or later, is live.
    const [row] = (await this.opts.db.query('SELECT event_horizon()::text AS xmin')) as { xmin: string }[];
    this.position = { txId: row?.xmin ?? '0', id: '-1' };
    await this.listen();
    const poll = () => {
      this.pollTimer = setTimeout(() => {
        this.wake();
        poll();
      }, this.opts.pollMs ?? 1000);
      this.pollTimer.unref();
    };
    poll();
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.opts.connectionString,
      application_name: 'identity-monitor-feed',
    });
    const lost = (err?: Error) => {
      if (this.listener !== client) return;
      this.listener = null;
      client.removeAllListeners();
      // A closing connection can still report an error: one unheard would be an uncaught exception.
      client.on('error', () => undefined);
      void client.end().catch(() => undefined);
      if (this.stopped) return;
      this.opts.log.warn({ err }, 'change feed listener lost; polling until it reconnects');
      this.scheduleReconnect();
    };
    try {
      await client.connect();
      client.on('notification', (msg) => {
        const { replicaId, change } = decodeChangePayload(msg.payload ?? '');
        if (replicaId !== this.opts.replicaId) this.opts.onChange?.(change);
        this.wake();
      });
      client.on('error', lost);
      client.on('end', () => lost());
      await client.query(`LISTEN ${CHANGE_CHANNEL}`);
      this.listener = client;
      this.wake(); // anything committed while we were not listening
    } catch (err) {
      await client.end().catch(() => undefined);
      if (this.stopped) return;
      this.opts.log.warn({ err }, 'change feed listener could not connect; polling until it does');
      this.scheduleReconnect();
    }
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer || this.stopped) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.listen();
    }, 1000);
    this.reconnectTimer.unref();
  }

  /** Reads new events now, or right after the read in progress. */
  wake(): void {
    if (this.stopped) return;
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = this.readNew()
      .catch((err: unknown) =>
        this.opts.log.warn({ err }, 'change feed read failed; retrying on the next wake'),
      )
      .finally(() => {
        this.reading = null;
        if (this.readAgain) {
          this.readAgain = false;
          this.wake();
        }
      });
  }

  private async readNew(): Promise<void> {
    // Nobody to hand events to: which identities they touch is enough (for onChange), and past a page of
    // them, how far they go. A subscriber added meanwhile took the old position as its replay end, so
    // then the events are read.
    if (this.subscribers.size === 0) {
      const read = await readChangedIdentities(this.opts.db, this.position, PAGE);
      const end = read.count < PAGE ? read.end : await endPosition(this.opts.db);
      if (this.subscribers.size === 0) {
        if (comparePositions(end, this.position) > 0) {
          this.opts.onChange?.(read.count < PAGE ? { identities: read.identities } : null);
          this.position = end;
        }
        return;
      }
    }
    for (;;) {
      const events = await readFeedPage(this.opts.db, this.position, null, null, PAGE);
      const last = events.at(-1);
      if (!last) return;
      this.opts.onChange?.(changeOf(events));
      this.dispatch(events);
      this.position = { txId: last.txId, id: last.id };
      if (events.length < PAGE) return;
    }
  }

  /**
   * Hands a page to every matching subscriber, without waiting for any. A subscriber still holding more
   * than `bufferLimit` events from earlier pages is too far behind (a stalled socket): it is dropped and
   * closed, to resume from its cursor. So a healthy client may take any single burst, and no subscriber
   * holds more than `bufferLimit` plus one page.
   */
  private dispatch(events: readonly FeedEvent[]): void {
    const now = Date.now();
    for (const e of events)
      this.opts.metrics.feedLag.observe(Math.max(0, now - e.receivedAt.getTime()) / 1000);
    let delivered = 0;
    for (const s of this.subscribers) {
      if (s.backlog() > this.bufferLimit) {
        this.subscribers.delete(s);
        this.opts.metrics.feedOverflows.inc();
        s.overflow();
        continue;
      }
      for (const e of events) if (matches(s.criteria, e) && s.deliver(e)) delivered++;
    }
    this.opts.metrics.feedFannedOut.inc(delivered);
    this.opts.metrics.feedSubscriptions.set(this.subscribers.size);
  }

  /** Live delivery from now on, for events after the current position. */
  add(subscriber: FeedSubscriber): () => void {
    this.subscribers.add(subscriber);
    this.opts.metrics.feedSubscriptions.set(this.subscribers.size);
    return () => {
      this.subscribers.delete(subscriber);
      this.opts.metrics.feedSubscriptions.set(this.subscribers.size);
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    for (const s of this.subscribers) s.close();
    await this.reading;
    const client = this.listener;
    this.listener = null;
    await client?.end().catch(() => undefined);
  }
}
