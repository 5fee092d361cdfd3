import { setTimeout as sleep } from 'node:timers/promises';
import { type ReceivedEvent, type Subscriber, subscribe } from '../helpers/subscriber.js';

export interface Follower {
  /** Every event received so far, across all connections, in order. */
  events(): ReceivedEvent[];
  /** Subscriptions made (1 + the resubscriptions). */
  connections(): number;
  stop(): Promise<void>;
}

/**
 * A partner following identityEvents as examples/partner-client.ts does: whenever its subscription ends
 * (the socket closed, or the server refused it while PostgreSQL was away), it subscribes again after
 * the last event's cursor, so nothing is missed and nothing is repeated.
 */
export async function follow(url: string, token: string): Promise<Follower> {
  const ended: ReceivedEvent[] = [];
  let current: Subscriber | null = null;
  let connections = 0;
  let stopped = false;
  const all = () => [...ended, ...(current?.events ?? [])];
  const loop = (async () => {
    while (!stopped) {
      const after = all().at(-1)?.cursor;
      connections++;
      const sub = await subscribe(url, token, after ? { after } : {}).catch(() => null);
      if (sub) {
        current = sub;
        // Stopped while this one was connecting, stop() found nothing to end: it ends here, or never.
        if (!stopped) await Promise.race([sub.closed, sub.completed]);
        // One at a time: spread into push's arguments, a 10-minute soak's 130,000 events overflow the stack.
        for (const e of sub.events) ended.push(e);
        current = null;
        await sub.dispose();
      }
      if (!stopped) await sleep(200);
    }
  })();
  // The first subscription is up before the caller sends anything.
  while (current === null) await sleep(10);
  return {
    events: all,
    connections: () => connections,
    async stop() {
      stopped = true;
      await (current as Subscriber | null)?.dispose();
      await loop;
    },
  };
}
