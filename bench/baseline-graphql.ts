/**
 * Baseline for bench/graphql.ts: plain graphql-js behind node:http with hand-written SQL, no framework
 * and no ORM. A minimal schema (identities → edges → node → events → edges → node) whose resolvers send
 * the same two statements as our server: the page of identities, then ONE LATERAL query for the events of
 * all of them (batched per request with DataLoader, as ours is). It verifies the bearer token with the
 * same verifier, and caches parsed and validated documents by query text, as Apollo Server does, so the
 * ratio of our server to this is the cost of our stack, not of work the baseline skips.
 */
import DataLoader from 'dataloader';
import {
  type DocumentNode,
  execute,
  GraphQLID,
  GraphQLInt,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLString,
  parse,
  validate,
} from 'graphql';
import pg from 'pg';
import type { Principal } from '../src/auth/scopes.js';
import { bearerToken, createTokenVerifier } from '../src/auth/tokens.js';
import { serveBare } from './bare-http.js';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 20 });
const verify = createTokenVerifier({
  kind: 'secret',
  secret: new TextEncoder().encode(process.env.AUTH_JWT_SECRET ?? ''),
  issuer: null,
  audience: null,
});

interface Ctx {
  principal: Principal;
  /** One batching loader per page size of Identity.events in this request. */
  events: Map<number, DataLoader<string, EventRow[]>>;
}
interface IdentityRow {
  id: string;
  status: string;
  risk_level: string;
}
interface EventRow {
  id: string;
  identity_id: string;
  type: string;
  occurred_at: Date;
}

function need(ctx: Ctx, scope: string): void {
  if (!ctx.principal.scopes.has(scope)) throw new Error(`this operation needs the ${scope} scope`);
}

const page = (limit: number) => Math.min(Math.max(limit, 1), 100);

function eventsLoader(limit: number) {
  return new DataLoader<string, EventRow[]>(
    async (ids) => {
      const { rows } = await pool.query<EventRow>(
        `SELECT e.* FROM unnest($1::uuid[]) AS k(identity_id)
         CROSS JOIN LATERAL (
           SELECT e.id::text AS id, e.identity_id, e.type, e.occurred_at FROM identity_events e
           WHERE e.identity_id = k.identity_id ORDER BY e.tx_id DESC, e.id DESC LIMIT $2
         ) e`,
        [ids, limit + 1],
      );
      const by = new Map<string, EventRow[]>(ids.map((id) => [id, []]));
      for (const r of rows) by.get(r.identity_id)?.push(r);
      return ids.map((id) => by.get(id) ?? []);
    },
    { cache: false },
  );
}

const edgesOf = <T>(item: GraphQLObjectType) =>
  new GraphQLObjectType<T[]>({
    name: `${item.name}Connection`,
    fields: {
      edges: {
        type: new GraphQLNonNull(
          new GraphQLList(
            new GraphQLNonNull(
              new GraphQLObjectType<T>({
                name: `${item.name}Edge`,
                fields: { node: { type: new GraphQLNonNull(item), resolve: (n) => n } },
              }),
            ),
          ),
        ),
        resolve: (list) => list,
      },
    },
  });

const Event = new GraphQLObjectType<EventRow>({
  name: 'IdentityEvent',
  fields: {
    id: { type: new GraphQLNonNull(GraphQLID) },
    type: { type: new GraphQLNonNull(GraphQLString) },
    occurredAt: { type: new GraphQLNonNull(GraphQLString), resolve: (e) => e.occurred_at.toISOString() },
  },
});

const Identity = new GraphQLObjectType<IdentityRow, Ctx>({
  name: 'Identity',
  fields: {
    id: { type: new GraphQLNonNull(GraphQLID) },
    status: { type: new GraphQLNonNull(GraphQLString) },
    riskLevel: { type: new GraphQLNonNull(GraphQLString), resolve: (i) => i.risk_level },
    events: {
      type: new GraphQLNonNull(edgesOf<EventRow>(Event)),
      args: { first: { type: GraphQLInt, defaultValue: 20 } },
      async resolve(i, args: { first: number }, ctx) {
        need(ctx, 'events:read');
        const limit = page(args.first);
        const loader = ctx.events.get(limit) ?? eventsLoader(limit);
        ctx.events.set(limit, loader);
        return (await loader.load(i.id)).slice(0, limit);
      },
    },
  },
});

const schema = new GraphQLSchema({
  query: new GraphQLObjectType<unknown, Ctx>({
    name: 'Query',
    fields: {
      identities: {
        type: new GraphQLNonNull(edgesOf<IdentityRow>(Identity)),
        args: { first: { type: GraphQLInt, defaultValue: 20 } },
        async resolve(_root, args: { first: number }, ctx) {
          need(ctx, 'identities:read');
          const limit = page(args.first);
          const { rows } = await pool.query<IdentityRow>(
            `SELECT i.id, i.status, i.risk_level FROM identities i
             ORDER BY i.created_at DESC, i.id DESC LIMIT $1`,
            [limit + 1],
          );
          return rows.slice(0, limit);
        },
      },
    },
  }),
});

const documents = new Map<string, DocumentNode>();

/** Parsed and validated once per query text; null with the errors when it is not valid. */
function documentOf(query: string): { document: DocumentNode } | { errors: readonly unknown[] } {
  const cached = documents.get(query);
  if (cached) return { document: cached };
  const document = parse(query);
  const errors = validate(schema, document);
  if (errors.length) return { errors };
  documents.set(query, document);
  return { document };
}

serveBare(
  async (req, raw) => {
    const token = bearerToken(req.headers.authorization);
    if (!token) return { status: 401, body: { errors: [{ message: 'unauthenticated' }] } };
    const principal = await verify(token);
    const body = JSON.parse(raw.toString('utf8')) as { query: string; variables?: Record<string, unknown> };
    const doc = documentOf(body.query);
    if ('errors' in doc) return { status: 400, body: { errors: doc.errors } };
    const ctx: Ctx = { principal, events: new Map() };
    const result = await execute({
      schema,
      document: doc.document,
      contextValue: ctx,
      variableValues: body.variables ?? null,
    });
    return { status: 200, body: result };
  },
  () => pool.end(),
);
