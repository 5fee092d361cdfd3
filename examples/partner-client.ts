/**
 * A partner service following the live event feed (README, "Live events: a guide for partner
 * services"). It subscribes to identityEvents over graphql-ws, handles each event (here: prints one
 * line), then stores that event's cursor; every connection subscribes again after the stored cursor, so
 * across its own restarts and the server's it handles every event once, in order.
 *
 *   npm run example:partner          # against `npm start` on this machine, with a development token
 *
 * Environment:
 *   IDM_URL          the API (default http://127.0.0.1:4000)
 *   IDM_TOKEN        a token with the events:subscribe scope (and events:read, for the first start)
 *   IDM_TOKEN_FILE   or a file holding the token, read again at every connection: what renews the
 *                    token (a sidecar, a cron job) writes the new one there
 *   CURSOR_FILE      where the cursor is kept (default ./.data/partner-cursor)
 *   IDM_EVENT_TYPES  only these event types, e.g. PORT,DISCONNECT (default: all)
 * Copy it freely: only devToken() belongs to this repository.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const api = new URL(process.env.IDM_URL ?? 'http://127.0.0.1:4000');
const httpUrl = new URL('/graphql', api).toString();
const wsUrl = httpUrl.replace(/^http/, 'ws');
const cursorFile = path.resolve(process.env.CURSOR_FILE ?? '.data/partner-cursor');
const types = process.env.IDM_EVENT_TYPES?.split(',').filter((t) => t.trim() !== '');
const filter = types?.length ? { types } : null;

const SUBSCRIPTION = `subscription ($after: String, $filter: EventFilter) {
  identityEvents(after: $after, filter: $filter) {
    id cursor type provider occurredAt identity { id status riskLevel }
  }
}`;

interface IdentityEvent {
  id: string;
  cursor: string;
  type: string;
  provider: string;
  occurredAt: string;
  identity: { id: string; status: string; riskLevel: string };
}

const log = (message: string) => process.stderr.write(`${new Date().toISOString()} ${message}\n`);

/** Your work. When it returns, the event is done: its cursor is stored next and it is not seen again. */
async function handle(event: IdentityEvent): Promise<void> {
  const { id, status, riskLevel } = event.identity;
  console.log(`event ${event.id}: ${event.type} (${event.provider}) identity ${id} ${status}/${riskLevel}`);
}

// --- Tokens: one for every connection, so that a reconnect after expiry (close 4401) carries a new one.

async function getToken(): Promise<string> {
  if (process.env.IDM_TOKEN_FILE) return (await readFile(process.env.IDM_TOKEN_FILE, 'utf8')).trim();
  return process.env.IDM_TOKEN ?? devToken();
}
/** A fixed IDM_TOKEN cannot be renewed here: once expired, the client stops. */
const renewable = !process.env.IDM_TOKEN || Boolean(process.env.IDM_TOKEN_FILE);

/**
 * This repository only: a 15-minute token signed with the development secret (.data/dev-secrets.json,
 * or AUTH_JWT_SECRET), as `npm start` verifies it. In your service, ask your identity provider.
 */
async function devToken(): Promise<string> {
  const { loadProcessConfig } = await import('../src/config.js');
  const { localToken } = await import('../src/cli/local-token.js');
  return localToken(loadProcessConfig(), {
    scopes: ['events:subscribe', 'events:read'],
    subject: 'partner-example',
    expiresIn: '15m',
  });
}

// --- The cursor: the position after the last event handled.

async function loadCursor(): Promise<string | null> {
  try {
    return (await readFile(cursorFile, 'utf8')).trim() || null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Written whole, flushed, then renamed over the old one: a crash leaves one cursor or the other, never half. */
async function saveCursor(cursor: string): Promise<void> {
  const tmp = `${cursorFile}.tmp`;
  await writeFile(tmp, cursor, { flush: true });
  await rename(tmp, cursorFile);
}

/**
 * First start: begin after the newest stored event (the events query, scope events:read). Subscribing
 * without a cursor would start "now" again at each reconnect until a first event gives one. Null when
 * there is none yet, or the token may not read events (then: from the moment of subscribing).
 */
async function newestCursor(): Promise<string | null> {
  const res = await fetch(httpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await getToken()}` },
    body: JSON.stringify({ query: '{ events(first: 1) { edges { cursor } } }' }),
  });
  const body = (await res.json()) as { data?: { events: { edges: { cursor: string }[] } }; errors?: unknown };
  if (!body.data) log(`cannot read the newest event, starting from now: ${JSON.stringify(body.errors)}`);
  return body.data?.events.edges[0]?.cursor ?? null;
}

/** Exponential, capped at 5 s, with jitter so that many clients do not reconnect in step. */
const backoff = (attempt: number) => Math.min(5_000, 250 * 2 ** attempt) + Math.random() * 250;

// --- The subscription, and what to do when its socket closes.

let pongTimeout: NodeJS.Timeout | undefined;
/** Failed connections in a row, for the backoff. */
let attempt = 0;

const client = createClient({
  url: wsUrl,
  webSocketImpl: WebSocket, // Node 20 has no WebSocket of its own
  connectionParams: async () => ({ authorization: `Bearer ${await getToken()}` }),
  // No automatic retry: graphql-ws would subscribe again with the `after` of the first subscription,
  // replaying what was handled since. The loop below subscribes again itself, with the stored cursor.
  retryAttempts: 0,
  // Pings every 10 s; no pong within 5 s means a dead connection (a peer that vanished sends no close).
  keepAlive: 10_000,
  on: {
    connected: () => {
      attempt = 0;
      log(`connected to ${wsUrl}`);
    },
    ping: (received) => {
      if (!received) pongTimeout = setTimeout(() => client.terminate(), 5_000);
    },
    pong: (received) => {
      if (received) clearTimeout(pongTimeout);
    },
    closed: () => clearTimeout(pongTimeout),
  },
});
/** Close codes after which reconnecting cannot help (README: "When the socket closes"). */
const FATAL: Record<number, string> = {
  4400: 'the server refused a malformed message',
  4403: 'the token was refused (invalid, expired, or for another server)',
};

const stop = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // Stop after the event being handled, not in the middle of it; a second signal stops at once.
  process.on(signal, () => {
    if (stop.signal.aborted) process.exit(1);
    log(`${signal}: stopping`);
    stop.abort();
    void client.dispose();
  });
}

await mkdir(path.dirname(cursorFile), { recursive: true });
for (let tries = 0; (await loadCursor()) === null && !stop.signal.aborted; tries++) {
  try {
    const start = await newestCursor();
    if (start) await saveCursor(start);
    log(
      start ? 'first start: from the newest stored event on' : 'first start: no stored event to start after',
    );
    break;
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    log(`cannot reach ${httpUrl} (${cause}); trying again`);
    await sleep(backoff(tries), undefined, { signal: stop.signal }).catch(() => {});
  }
}

while (!stop.signal.aborted) {
  try {
    const events = client.iterate<{ identityEvents: IdentityEvent }>({
      query: SUBSCRIPTION,
      variables: { after: await loadCursor(), filter },
    });
    for await (const { data, errors } of events) {
      if (errors || !data) throw errors ?? [{ message: 'no data' }];
      await handle(data.identityEvents);
      await saveCursor(data.identityEvents.cursor);
      if (stop.signal.aborted) break;
    }
  } catch (err) {
    if (stop.signal.aborted) break;
    if (Array.isArray(err)) {
      // GraphQL errors: the server refused the subscription itself (a bad cursor, a missing scope).
      log(`subscription refused: ${err.map((e: { message?: string }) => e.message).join('; ')}`);
      process.exitCode = 1;
      break;
    }
    // A socket that closed has a code; one that never opened (server down) gives an error event.
    const closed = err as { code?: number; reason?: string; message?: string };
    const code = closed.code ?? 1006;
    const why = closed.reason || closed.message;
    if (code in FATAL || (code === 4401 && !renewable)) {
      log(`closed ${code}: ${FATAL[code] ?? 'the token expired: set a fresh IDM_TOKEN'}`);
      process.exitCode = 1;
      break;
    }
    if (code === 4401) {
      log('closed 4401: the token expired; reconnecting with a new one');
      continue;
    }
    // 1001 server restarting, 1013 too far behind, 1006 unreachable, 4500…: back off, then resume.
    const wait = backoff(attempt++);
    log(`closed ${code}${why ? ` (${why})` : ''}; reconnecting in ${Math.round(wait)} ms`);
    await sleep(wait, undefined, { signal: stop.signal }).catch(() => {});
  }
}
clearTimeout(pongTimeout);
await client.dispose();
