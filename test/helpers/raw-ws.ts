import WebSocket from 'ws';

/** A raw graphql-transport-ws socket: `next` messages are counted, not parsed (a storm sends 100,000s). */
export interface RawSocket {
  ws: WebSocket;
  /** Whether connection_init was acknowledged (false: the socket was closed instead). */
  acked: Promise<boolean>;
  closed: Promise<{ code: number; reason: string }>;
  /** `next` messages received so far. */
  nexts: () => number;
  /** Resolves with the first message of this operation id other than `next`; fails after 10 s. */
  endOf(id: string): Promise<Record<string, unknown>>;
  subscribe(id: string, query: string, variables?: Record<string, unknown>): void;
}

/** Opens a socket to the server at `url` (http://…) and sends connection_init with the token. */
export function openSocket(url: string, token: string): RawSocket {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
  let nexts = 0;
  const waiting = new Map<string, (m: Record<string, unknown>) => void>();
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })),
  );
  const acked = new Promise<boolean>((resolve) => {
    ws.once('open', () =>
      ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })),
    );
    void closed.then(() => resolve(false));
    ws.on('message', (data: Buffer) => {
      // Next messages start with {"id":"…","type":"next": counted without parsing.
      if (data.includes('"type":"next"')) {
        nexts++;
        return;
      }
      const m = JSON.parse(String(data)) as Record<string, unknown>;
      if (m.type === 'connection_ack') resolve(true);
      const id = typeof m.id === 'string' ? m.id : '';
      waiting.get(id)?.(m);
    });
  });
  return {
    ws,
    acked,
    closed,
    nexts: () => nexts,
    endOf: (id) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer to operation ${id} within 10 s`)), 10_000);
        timer.unref();
        waiting.set(id, (m) => {
          clearTimeout(timer);
          resolve(m);
        });
      }),
    subscribe: (id, query, variables = {}) =>
      ws.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables } })),
  };
}
