import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';

export interface ReceivedEvent {
  id: string;
  cursor: string;
  type: string;
  provider: string;
  providerEventId: string;
  occurredAt: string;
  identity: { id: string; status: string; riskLevel: string };
}

export const EVENT_FIELDS =
  'id cursor type provider providerEventId occurredAt identity { id status riskLevel }';

export interface Subscriber {
  client: Client;
  events: ReceivedEvent[];
  errors: unknown[];
  /** The close code once the socket closed. */
  closed: Promise<number>;
  completed: Promise<void>;
  /** Resolves once `count` events in all have arrived. */
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedEvent[]>;
  dispose(): Promise<void>;
}

/** A real graphql-ws client subscribed to identityEvents on the server at `url` (http://…). */
export async function subscribe(
  url: string,
  token: string | null,
  variables: { filter?: Record<string, unknown>; after?: string } = {},
  fields = EVENT_FIELDS,
): Promise<Subscriber> {
  const events: ReceivedEvent[] = [];
  const errors: unknown[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  let onClosed: (code: number) => void = () => {};
  const closed = new Promise<number>((r) => {
    onClosed = r;
  });
  let connectedResolve: () => void = () => {};
  const connected = new Promise<void>((r) => {
    connectedResolve = r;
  });
  const client = createClient({
    url: `${url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
    lazy: true,
    onNonLazyError: () => {},
    on: {
      connected: () => connectedResolve(),
      closed: (e) => {
        onClosed((e as { code: number }).code);
        connectedResolve();
      },
    },
  });
  let completedResolve: () => void = () => {};
  const completed = new Promise<void>((r) => {
    completedResolve = r;
  });
  client.subscribe<{ identityEvents: ReceivedEvent }>(
    {
      query: `subscription ($filter: EventFilter, $after: String) {
        identityEvents(filter: $filter, after: $after) { ${fields} } }`,
      variables,
    },
    {
      next: (msg) => {
        if (msg.errors) errors.push(...msg.errors);
        if (msg.data?.identityEvents) events.push(msg.data.identityEvents);
        for (const w of waiters.filter((x) => events.length >= x.count)) w.resolve();
      },
      error: (err) => {
        errors.push(err);
        completedResolve();
      },
      complete: () => completedResolve(),
    },
  );
  await connected;
  // The subscribe message is sent right after the ack; give the server a moment to register it.
  await new Promise((r) => setTimeout(r, 150));
  return {
    client,
    events,
    errors,
    closed,
    completed,
    waitFor(count, timeoutMs = 10_000) {
      if (events.length >= count) return Promise.resolve(events);
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () =>
            reject(
              new Error(
                `got ${events.length} of ${count} events in ${timeoutMs} ms; errors: ${JSON.stringify(errors)}`,
              ),
            ),
          timeoutMs,
        );
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(t);
            resolve(events);
          },
        });
      });
    },
    async dispose() {
      await client.dispose();
    },
  };
}
