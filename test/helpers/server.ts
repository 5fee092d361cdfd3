import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { signToken } from '../../src/auth/tokens.js';
import { loadConfig } from '../../src/config.js';
import type { WsLimits } from '../../src/graphql/ws-limits.js';
import { createLogger } from '../../src/observability/logger.js';
import { type App, startServer } from '../../src/server.js';
import { createTestDatabase, type TestDatabase } from './db.js';

/** A 32-byte HS256 secret for API tokens in tests. */
export const TEST_AUTH_SECRET = 'test-auth-secret-0123456789abcdef0123456789';

export interface TestServer {
  app: App;
  url: string;
  database: TestDatabase;
  spoolDir: string;
  /** Every log line the server wrote, for tests that check nothing secret leaks. */
  logs: string[];
  /** A token with the given scopes (all by default), signed with the server's auth secret. */
  token(scopes?: readonly string[], opts?: { expiresIn?: string | number }): Promise<string>;
  /** POST a GraphQL operation with a token (or none with `token: null`). */
  gql<T = unknown>(
    query: string,
    variables?: Record<string, unknown>,
    opts?: { token?: string | null },
  ): Promise<{
    status: number;
    body: { data?: T; errors?: { message: string; extensions?: Record<string, unknown> }[] };
  }>;
  close(): Promise<void>;
}

/**
 * The real server on port 0 against a fresh database cloned from the migrated template.
 * `env` adds or overrides environment variables (the contract's names).
 */
export async function startTestServer(
  opts: {
    env?: Record<string, string>;
    database?: TestDatabase;
    subscriptionBuffer?: number;
    /** The clock webhook deliveries are received by (src/server.ts StartOptions.now). */
    now?: () => Date;
    /** How long a webhook's commit may take before it is spooled (src/server.ts StartOptions). */
    commitDeadlineMs?: number;
    /** WebSocket limits other than WS_LIMITS (src/graphql/ws-limits.ts). */
    wsLimits?: Partial<WsLimits>;
    /** Concurrent sockets before new ones are dropped (src/server.ts StartOptions). */
    maxConnections?: number;
  } = {},
): Promise<TestServer> {
  const database = opts.database ?? (await createTestDatabase());
  // Each server spools into a directory of its own: a spool is drained into whatever database its server uses.
  const spoolDir = await mkdtemp(path.join(os.tmpdir(), 'idm-spool-'));
  const config = loadConfig({
    PORT: '0',
    DATABASE_URL: database.url,
    SPOOL_DIR: spoolDir,
    AUTH_JWT_SECRET: TEST_AUTH_SECRET,
    LOG_LEVEL: 'info',
    // Tests seed and clear data by SQL, which no response cache hears of; test/api/response-cache.test.ts
    // turns it on and writes only as clients do.
    GRAPHQL_CACHE_TTL_MS: '0',
    ...opts.env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const app = await startServer(config, {
    logger: createLogger(config.logLevel, sink),
    ...(opts.subscriptionBuffer ? { subscriptionBuffer: opts.subscriptionBuffer } : {}),
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.commitDeadlineMs ? { commitDeadlineMs: opts.commitDeadlineMs } : {}),
    ...(opts.wsLimits ? { wsLimits: opts.wsLimits } : {}),
    ...(opts.maxConnections ? { maxConnections: opts.maxConnections } : {}),
  });
  const secret = new TextEncoder().encode(opts.env?.AUTH_JWT_SECRET ?? TEST_AUTH_SECRET);
  const server: TestServer = {
    app,
    url: app.url,
    database,
    spoolDir,
    logs,
    token: (scopes, o) =>
      signToken(secret, {
        ...(scopes ? { scopes } : {}),
        ...(o?.expiresIn ? { expiresIn: o.expiresIn } : {}),
      }),
    async gql(query, variables, o) {
      const token = o?.token === undefined ? await server.token() : o.token;
      const res = await fetch(`${app.url}/graphql`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
      });
      return { status: res.status, body: (await res.json()) as never };
    },
    async close() {
      await app.close();
      await rm(spoolDir, { recursive: true, force: true });
      if (!opts.database) await database.drop();
    },
  };
  return server;
}
