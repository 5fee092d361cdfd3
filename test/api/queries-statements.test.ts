import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { execute, type GraphQLSchema, parse } from 'graphql';
import type { DataSource, Logger } from 'typeorm';
import { SCOPES } from '../../src/auth/scopes.js';
import { createDataSource } from '../../src/db/data-source.js';
import { makeContext } from '../../src/graphql/context.js';
import { createSchema } from '../../src/graphql/schema.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { seedEvents, seedIdentities } from '../helpers/seed.js';

/** A TypeORM logger that records every statement sent to PostgreSQL, whatever issued it. */
class StatementLog implements Logger {
  statements: string[] = [];
  logQuery(query: string): void {
    this.statements.push(query);
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

describe('GraphQL statement count', () => {
  let database: TestDatabase;
  let ds: DataSource;
  let schema: GraphQLSchema;
  const log = new StatementLog();

  before(async () => {
    database = await createTestDatabase();
    ds = createDataSource({ url: database.url, poolSize: 4 });
    ds.setOptions({ logger: log });
    await ds.initialize();
    schema = await createSchema();
    const ids = await seedIdentities(
      ds,
      Array.from({ length: 50 }, () => ({})),
    );
    await seedEvents(
      ds,
      ids.flatMap((identityId) => Array.from({ length: 7 }, () => ({ identityId }))),
    );
  });
  after(async () => {
    await ds.destroy();
    await database.drop();
  });

  /** Executes an operation in-process, as the HTTP handler would: its data and the statements it issued. */
  async function run(query: string): Promise<{ data: unknown; statements: string[] }> {
    const contextValue = makeContext({
      principal: { subject: 'test', scopes: new Set(SCOPES), expiresAt: Date.now() + 3_600_000 },
      requestId: 'statement-count',
      services: {
        db: ds,
        notifier: { poke() {}, async flush() {} },
        feed: undefined as never,
        gateway: undefined as never,
        enrollment: undefined as never,
      },
    });
    log.statements = [];
    const result = await execute({ schema, document: parse(query), contextValue });
    assert.equal(result.errors, undefined, JSON.stringify(result.errors));
    return { data: result.data, statements: log.statements };
  }
  const statementsOf = async (query: string) => (await run(query)).statements;

  const page = (n: number) => `{ identities(first: ${n}) { edges { node { id status riskLevel
    events(first: 5) { edges { node { type occurredAt } } } } } } }`;

  it('reads a page of identities with their events in ONE statement for 5 or 50 identities', async () => {
    const five = await statementsOf(page(5));
    const fifty = await statementsOf(page(50));
    assert.deepEqual([five.length, fifty.length], [1, 1], fifty.join('\n---\n'));
  });

  it('reads them in one statement too through fragments, aliases and variables-free defaults', async () => {
    const statements = await statementsOf(`{ identities(first: 10) { ...Page } }
      fragment Page on IdentityConnection { edges { node { ... on Identity { id latest: events { edges {
        node { type } } } } } } }`);
    assert.equal(statements.length, 1, statements.join('\n---\n'));
  });

  it('reads an identity with its events in one statement', async () => {
    const [first] = (
      (await run('{ identities(first: 1) { edges { node { id } } } }')).data as {
        identities: { edges: { node: { id: string } }[] };
      }
    ).identities.edges;
    const statements = await statementsOf(
      `{ identity(id: "${first?.node.id}") { id events(first: 3) { edges { node { type } } } } }`,
    );
    assert.equal(statements.length, 1, statements.join('\n---\n'));
  });

  it('reads only the event columns the query asks, through fragments and aliases', async () => {
    const [statement] = await statementsOf(`{ identities(first: 3) { edges { node { id events(first: 2) {
      edges { cursor node { ...E also: rawType } } } } } } } fragment E on IdentityEvent { type occurredAt }`);
    const asked = ['e.type', 'e.raw_type', 'e.occurred_at'].filter((c) => statement?.includes(c));
    const notAsked = ['e.received_at', 'e.provider_event_id', 'e.new_carrier', 'e.description'].filter((c) =>
      statement?.includes(c),
    );
    assert.deepEqual([asked, notAsked], [['e.type', 'e.raw_type', 'e.occurred_at'], []], statement);
  });

  it('falls back to one batched statement per page shape when one query asks two pages of events', async () => {
    const statements = await statementsOf(`{ identities(first: 10) { edges { node { id
      recent: events(first: 2) { edges { node { type } } } more: events(first: 5) { edges { node { type } } } } } } }`);
    // The identities, then one statement for each of the two pages of their events.
    assert.equal(statements.length, 3, statements.join('\n---\n'));
  });

  it('answers the same events, to the millisecond and the cursor, read in one statement or by the loader', async () => {
    const fields = `edges { cursor node { id cursor type rawType provider providerEventId description
      occurredAt receivedAt newCarrier newLineType verificationStatus } } pageInfo { hasNextPage endCursor }`;
    // Events whose times have sub-millisecond digits, and one before 1970 (negative epoch).
    const ids = (
      (await run('{ identities(first: 2) { edges { node { id } } } }')).data as {
        identities: { edges: { node: { id: string } }[] };
      }
    ).identities.edges.map((e) => e.node.id);
    await seedEvents(
      ds,
      ids.flatMap((identityId) => [
        { identityId, occurredAt: '2026-03-04T05:06:07.579999Z', newCarrier: 'Carrier', description: 'd' },
        { identityId, occurredAt: '1969-12-31T23:59:59.999500Z', verificationStatus: 'approved' },
      ]),
    );
    const one = await run(
      `{ identities(first: 2) { edges { node { id events(first: 4) { ${fields} } } } } }`,
    );
    // A second page shape in the same query sends both through the loader.
    const loaded = await run(`{ identities(first: 2) { edges { node { id events(first: 4) { ${fields} }
      other: events(first: 1) { edges { cursor } } } } } }`);
    assert.deepEqual([one.statements.length, loaded.statements.length], [1, 3]);
    type Answer = { identities: { edges: { node: { events: unknown; other?: unknown } }[] } };
    const strip = (a: unknown) => (a as Answer).identities.edges.map((e) => e.node.events);
    assert.deepEqual(strip(one.data), strip(loaded.data));
    const times = JSON.stringify(strip(one.data));
    assert.ok(
      times.includes('"2026-03-04T05:06:07.579Z"') && times.includes('"1969-12-31T23:59:59.999Z"'),
      times,
    );
  });

  it('loads the identities of a page of events in one statement, and their events in one more', async () => {
    const statements = await statementsOf(`{ events(first: 100) { edges { node { id identity { id status
      events(first: 2) { edges { node { id identity { id } } } } } } } } }`);
    // events, their identities, the identities' events, those events' identities.
    assert.equal(statements.length, 4, statements.join('\n---\n'));
  });
});
