/**
 * Fuzzing GraphQL over HTTP and graphql-ws with an admin token: documents from the schema with random
 * arguments, aliases, fragments, directives and variables, documents beyond every limit, garbage.
 * Invariants: never a 5xx, never a socket closed as an internal error, every error's code public, no
 * stack trace, SQL or internal path in any answer. Plain `npm test` sends about 1,000 requests;
 * `npm run test:reliability` about 20,000.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { PUBLIC_CODES } from '../../src/graphql/errors.js';
import { FULL, INTERNAL_DETAIL, rawPost, scale } from '../helpers/fuzz.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postPassbase, postProve, postVove, proveNotification, WEBHOOK_ENV } from '../helpers/webhooks.js';
import { type GqlRequest, gqlRequest } from './graphql-documents.js';

const CONCURRENCY = 6;
const TOTAL = scale(1_000, 20_000);
/** graphql-ws close codes that mean the server failed, not the client: 4500 internal error, 1011. */
const SERVER_FAILURE_CLOSES = new Set([4500, 1011]);

const tally = {
  http: 0,
  ws: 0,
  fiveHundreds: 0,
  byStatus: new Map<number, number>(),
  codes: new Map<string, number>(),
};

/** What is wrong with the errors of an answer, or null. `sent` is what was asked (answers may echo it). */
function checkErrors(errors: unknown, sent: string): string | null {
  if (errors === undefined) return null;
  if (!Array.isArray(errors)) return `errors is not a list: ${JSON.stringify(errors)}`;
  for (const e of errors as { message?: unknown; extensions?: Record<string, unknown> }[]) {
    const code = e.extensions?.code;
    tally.codes.set(String(code), (tally.codes.get(String(code)) ?? 0) + 1);
    if (typeof code !== 'string' || !PUBLIC_CODES.has(code))
      return `error code ${String(code)}: ${JSON.stringify(e)}`;
    if (e.extensions && ('stacktrace' in e.extensions || 'exception' in e.extensions))
      return `a stack: ${JSON.stringify(e)}`;
  }
  return leak(JSON.stringify(errors), sent);
}

/** An internal detail in the answer that the request did not itself contain (messages quote documents). */
function leak(answer: string, sent: string): string | null {
  return INTERNAL_DETAIL.test(answer) && !INTERNAL_DETAIL.test(sent)
    ? `internal detail: ${answer.slice(0, 500)}`
    : null;
}

describe('fuzzing GraphQL', { timeout: FULL ? 15 * 60_000 : 120_000 }, () => {
  let server: TestServer;
  let token: string;
  let url: URL;
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const clients: Client[] = [];

  before(async () => {
    server = await startTestServer({ env: WEBHOOK_ENV });
    token = await server.token();
    url = new URL('/graphql', server.url);
    // A few rows of each provider, so generated queries walk real pages, identities and events.
    for (let i = 0; i < 5; i++) {
      await postProve(server.url, { notifications: [proveNotification(), proveNotification()] });
      await postVove(server.url, { status: 'suspected', refId: `ref-${i}` });
      const t = Math.floor(Date.now() / 1000);
      await postPassbase(server.url, {
        event: 'VERIFICATION_REVIEWED',
        key: crypto.randomUUID(),
        status: 'approved',
        created: t,
        updated: t,
        processed: t,
      });
    }
    for (let i = 0; i < 2; i++) {
      clients.push(
        createClient({
          url: `${server.url.replace(/^http/, 'ws')}/graphql`,
          webSocketImpl: WebSocket,
          connectionParams: { authorization: `Bearer ${token}` },
          retryAttempts: 0,
          lazy: true,
          on: {
            closed: (e) => {
              const code = (e as { code: number }).code;
              if (SERVER_FAILURE_CLOSES.has(code))
                serverCloses.push(`${code} after ${lastSent[i]?.slice(0, 300)}`);
            },
          },
        }),
      );
    }
  });
  const serverCloses: string[] = [];
  /** The last document each client sent, to name the one a failure close follows. */
  const lastSent: string[] = [];

  after(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
    agent.destroy();
    await server?.close();
  });

  async function overHttp(req: GqlRequest): Promise<void> {
    const answer = await rawPost(agent, url, Buffer.from(req.body), [
      ['content-type', 'application/json'],
      ['authorization', `Bearer ${token}`],
    ]);
    tally.http++;
    tally.byStatus.set(answer.status, (tally.byStatus.get(answer.status) ?? 0) + 1);
    if (answer.status >= 500) {
      tally.fiveHundreds++;
      throw new Error(`${answer.status} ${answer.text.slice(0, 500)}\nrequest: ${req.body.slice(0, 2000)}`);
    }
    let body: { errors?: unknown } | undefined;
    try {
      body = JSON.parse(answer.text) as { errors?: unknown };
    } catch {
      throw new Error(
        `not JSON: ${answer.status} ${answer.text.slice(0, 300)}\nrequest: ${req.body.slice(0, 2000)}`,
      );
    }
    // Fastify's own 4xx (a body that is not JSON) has no `errors`: its message is checked as text.
    const problem = checkErrors(body?.errors, req.body) ?? leak(answer.text, req.body);
    if (problem) throw new Error(`${problem}\nrequest: ${req.body.slice(0, 2000)}`);
  }

  /** One operation over a socket: its first result, its error, or nothing within a short wait. */
  async function overWs(req: NonNullable<GqlRequest['ws']>, client: Client): Promise<void> {
    tally.ws++;
    const variables =
      req.variables && typeof req.variables === 'object' && !Array.isArray(req.variables)
        ? (req.variables as Record<string, unknown>)
        : undefined;
    const outcome = await new Promise<{ errors?: unknown; closed?: unknown }>((resolve) => {
      let dispose = () => {};
      const timer = setTimeout(() => {
        dispose();
        resolve({});
      }, 200);
      dispose = client.subscribe(
        { query: req.query, ...(variables ? { variables } : {}) },
        {
          next: (result) => {
            clearTimeout(timer);
            dispose();
            resolve({ errors: result.errors });
          },
          error: (err) => {
            clearTimeout(timer);
            // graphql-ws hands over the `errors` of an error message, or the CloseEvent that ended the socket.
            resolve(Array.isArray(err) ? { errors: err } : { closed: err });
          },
          complete: () => {
            clearTimeout(timer);
            resolve({});
          },
        },
      );
    });
    const problem = checkErrors(outcome.errors, req.query);
    if (problem) throw new Error(`${problem}\nws request: ${req.query.slice(0, 2000)}`);
  }

  it('answers every generated document below 500 with public error codes and no internal detail', async () => {
    const property = fc.asyncProperty(gqlRequest, fc.nat({ max: 1 }), async (req, which) => {
      if (req.ws) {
        lastSent[which] = JSON.stringify(req.ws);
        await overWs(req.ws, clients[which] as Client);
      } else await overHttp(req);
    });
    const started = Date.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, (_, i) =>
        fc.assert(property, { numRuns: Math.ceil(TOTAL / CONCURRENCY), seed: 3_000 + i, verbose: 1 }),
      ),
    );
    const report = {
      http: tally.http,
      ws: tally.ws,
      seconds: Math.round((Date.now() - started) / 1000),
      byStatus: Object.fromEntries([...tally.byStatus].sort(([a], [b]) => a - b)),
      fiveHundreds: tally.fiveHundreds,
      codes: Object.fromEntries(tally.codes),
    };
    console.log(`fuzz-graphql ${JSON.stringify(report)}`);
    assert.ok(tally.http + tally.ws >= TOTAL);
    assert.equal(tally.fiveHundreds, 0);
    assert.ok(
      (tally.byStatus.get(200) ?? 0) > 0 && (tally.byStatus.get(400) ?? 0) > 0,
      'both answers and refusals',
    );
    // Unexpected errors are logged at level error (50) by maskErrors: none may have happened.
    const unexpected = server.logs.filter((l) => /"level":(50|60)/.test(l));
    assert.deepEqual(unexpected.slice(0, 3), [], 'no unexpected error logged');
  });

  it('closes no socket as a server failure', () => {
    assert.deepEqual(serverCloses, []);
  });
});
