import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { proveHeaders, signProve } from '../fixtures/signers.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { PROVE_SECRET, proveNotification, WEBHOOK_ENV } from '../helpers/webhooks.js';

describe('server', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s.close());

  it('answers /healthz and /readyz', async () => {
    assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
    const ready = await fetch(`${s.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready' });
  });

  it('answers /readyz 503 when migrations are not all applied', async () => {
    await s.app.db.query("UPDATE typeorm_migrations SET name = name || '-renamed'");
    try {
      const res = await fetch(`${s.url}/readyz`);
      assert.equal(res.status, 503);
      assert.deepEqual(await res.json(), { status: 'unavailable', reason: 'migrations_pending' });
    } finally {
      await s.app.db.query("UPDATE typeorm_migrations SET name = replace(name, '-renamed', '')");
    }
  });

  it("logs why /readyz failed: the driver's message, not [object Object] nor the SQL", async () => {
    await s.app.db.query('ALTER TABLE typeorm_migrations RENAME TO typeorm_migrations_away');
    try {
      const res = await fetch(`${s.url}/readyz`);
      assert.equal(res.status, 503);
      assert.deepEqual(await res.json(), { status: 'unavailable', reason: 'database_unreachable' });
    } finally {
      await s.app.db.query('ALTER TABLE typeorm_migrations_away RENAME TO typeorm_migrations');
    }
    const line = s.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'readiness check failed');
    assert.deepEqual(line?.err, {
      type: 'QueryFailedError',
      message: 'relation "typeorm_migrations" does not exist',
      code: '42P01',
    });
  });

  it('logs one listening line of its own, not fastify\'s "Server listening at"', () => {
    assert.ok(!s.logs.some((l) => l.includes('Server listening')), s.logs.join(''));
  });

  it('exposes Prometheus metrics for HTTP, GraphQL and the pool', async () => {
    await s.gql('{ __typename }');
    const res = await fetch(`${s.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    const text = await res.text();
    assert.match(
      text,
      /http_request_duration_seconds_count\{method="POST",route="\/graphql",status="200"\} \d+/,
    );
    assert.match(text, /graphql_operation_duration_seconds_count\{operation="query",outcome="ok"\} \d+/);
    assert.match(text, /db_pool_connections\{state="total"\} \d+/);
  });

  it('answers a GraphQL query for a token with the scope', async () => {
    const res = await s.gql<{ identity: null }>(
      '{ identity(id: "8b0e7d3c-5a3b-4f57-9a2b-1c2d3e4f5a6b") { id } }',
    );
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { data: { identity: null } });
  });

  it('refuses a query without a token as UNAUTHENTICATED and without the scope as FORBIDDEN', async () => {
    const q = '{ identity(id: "8b0e7d3c-5a3b-4f57-9a2b-1c2d3e4f5a6b") { id } }';
    const anonymous = await s.gql(q, {}, { token: null });
    assert.equal(anonymous.body.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
    const reader = await s.gql(q, {}, { token: await s.token(['events:read']) });
    assert.equal(reader.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
    assert.match(reader.body.errors?.[0]?.message ?? '', /identities:read/);
  });

  it('answers 401 UNAUTHENTICATED for a forged or expired token', async () => {
    const forged = `${(await s.token()).slice(0, -4)}AAAA`;
    const res = await s.gql('{ __typename }', {}, { token: forged });
    assert.equal(res.status, 401);
    assert.equal(res.body.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
    const expired = await s.token(undefined, { expiresIn: Math.floor(Date.now() / 1000) - 120 });
    const res2 = await s.gql('{ __typename }', {}, { token: expired });
    assert.equal(res2.status, 401);
    assert.match(res2.body.errors?.[0]?.message ?? '', /expired/);
  });

  it('answers a persisted-query hash that does not match its query as the client error it is (400 BAD_REQUEST), logging no error', async () => {
    const post = async (extensions: Record<string, unknown>) => {
      const res = await fetch(`${s.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await s.token()}` },
        body: JSON.stringify({ query: '{ __typename }', extensions }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const before = s.logs.length;
    const sha256Hash = createHash('sha256').update('{ __typename }').digest('hex');
    assert.deepEqual(await post({ persistedQuery: { version: 1, sha256Hash: '0'.repeat(64) } }), {
      status: 400,
      body: {
        errors: [{ message: 'provided sha does not match query', extensions: { code: 'BAD_REQUEST' } }],
      },
    });
    assert.deepEqual(await post({ persistedQuery: { version: 2, sha256Hash } }), {
      status: 400,
      body: {
        errors: [{ message: 'Unsupported persisted query version', extensions: { code: 'BAD_REQUEST' } }],
      },
    });
    // The right hash registers the query as ever.
    assert.deepEqual(await post({ persistedQuery: { version: 1, sha256Hash } }), {
      status: 200,
      body: { data: { __typename: 'Query' } },
    });
    const logged = s.logs.slice(before).map((l) => JSON.parse(l) as { level: number; msg: string });
    assert.deepEqual(
      logged.filter((l) => l.level >= 40),
      [],
      'a client error is not logged as a warning or an unexpected error',
    );
  });

  it('refuses a malformed identity id as BAD_USER_INPUT', async () => {
    const res = await s.gql('{ identity(id: "1; DROP TABLE identities") { id } }');
    assert.equal(res.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
  });

  it('never logs a bearer token', async () => {
    const token = await s.token();
    await s.gql('{ __typename }', {}, { token });
    await s.gql('{ __typename }', {}, { token: `${token}x` });
    assert.ok(!s.logs.join('').includes(token.split('.')[2]!));
  });
});

describe('server without auth configuration (development)', () => {
  it('makes a dev admin token with every scope', async () => {
    const s = await startTestServer({ env: { AUTH_JWT_SECRET: '' } });
    try {
      assert.ok(s.app.devToken);
      const res = await s.gql<{ identity: null }>(
        '{ identity(id: "8b0e7d3c-5a3b-4f57-9a2b-1c2d3e4f5a6b") { id } }',
        {},
        { token: s.app.devToken },
      );
      assert.deepEqual(res.body, { data: { identity: null } });
    } finally {
      await s.close();
    }
  });
});

describe('server start-up failure', () => {
  it('releases what it started when the port is taken, and says which port', async () => {
    const first = await startTestServer();
    try {
      await assert.rejects(
        startTestServer({ env: { PORT: String(first.app.port) }, database: first.database }),
        new RegExp(
          `^Error: cannot listen on HOST=127\\.0\\.0\\.1 PORT=${first.app.port}: .*(EADDRINUSE|address already in use)`,
        ),
      );
    } finally {
      await first.close();
    }
  });
});

describe('server drain', () => {
  it('serves a webhook that arrives on an open connection while it drains, answers anything else 503', async () => {
    const s = await startTestServer({ env: WEBHOOK_ENV });
    try {
      const webhook = async (notification: Record<string, unknown>) => {
        const body = JSON.stringify({ notifications: [notification] });
        const headers = proveHeaders(await signProve({ secret: PROVE_SECRET, body }));
        const head = [
          'POST /webhooks/prove HTTP/1.1',
          `host: 127.0.0.1:${s.app.port}`,
          'content-type: application/json',
          `content-length: ${Buffer.byteLength(body)}`,
          ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
        ];
        return `${head.join('\r\n')}\r\n\r\n${body}`;
      };
      /** A connection with a request under way: all but its last 10 bytes sent. */
      const connection = async (request: string) => {
        const socket = net.connect(s.app.port, '127.0.0.1');
        await once(socket, 'connect');
        let answers = '';
        socket.on('data', (chunk) => {
          answers += chunk;
        });
        const ended = once(socket, 'close');
        socket.write(request.slice(0, -10));
        return {
          /** Sends the rest, then `more` on the same connection; resolves with every answer once it closes. */
          async finish(more: string) {
            socket.write(request.slice(-10) + more);
            await ended;
            return { answers, statuses: [...answers.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]) };
          },
        };
      };
      const [first, second, third] = [proveNotification(), proveNotification(), proveNotification()];
      const one = await connection(await webhook(first));
      const two = await connection(await webhook(second));
      await new Promise((r) => setTimeout(r, 100));
      // Both requests are under way when the server starts to close; the next ones arrive once it has.
      const closed = s.app.close();
      await new Promise((r) => setTimeout(r, 100));
      const [a, b] = await Promise.all([
        one.finish(await webhook(third)),
        two.finish(`GET /healthz HTTP/1.1\r\nhost: 127.0.0.1:${s.app.port}\r\n\r\n`),
      ]);
      await closed;

      assert.deepEqual(a.statuses, ['200', '200'], a.answers);
      assert.match(a.answers, /connection: close/i);
      assert.deepEqual(b.statuses, ['200', '503'], b.answers);
      assert.match(b.answers, /\{"error":"unavailable"\}$/);
      const db = new pg.Client(s.database.url);
      await db.connect();
      try {
        const { rows } = await db.query(
          'SELECT provider_event_id FROM identity_events WHERE provider_event_id = ANY ($1) ORDER BY provider_event_id COLLATE "C"',
          [[first.eventId, second.eventId, third.eventId]],
        );
        assert.deepEqual(
          rows.map((r) => r.provider_event_id),
          [first.eventId, second.eventId, third.eventId].sort(),
        );
      } finally {
        await db.end();
      }
    } finally {
      await s.close();
    }
  });
});
