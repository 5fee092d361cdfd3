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

  /** Executes an operation in-process, as the HTTP handler would, and returns the statements it issued. */
  async function statementsOf(query: string): Promise<string[]> {
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
    return log.statements;
  }

  const page = (n: number) => `{ identities(first: ${n}) { edges { node { id status riskLevel
    events(first: 5) { edges { node { type occurredAt } } } } } } }`;

  it('reads a page of identities with their events in the same 2 statements for 5 or 50 identities', async () => {
    const five = await statementsOf(page(5));
    const fifty = await statementsOf(page(50));
    assert.equal(five.length, fifty.length);
    assert.equal(fifty.length, 2, fifty.join('\n---\n'));
  });

  it('loads the identities of a page of events in one statement, and their events in one more', async () => {
    const statements = await statementsOf(`{ events(first: 100) { edges { node { id identity { id status
      events(first: 2) { edges { node { id identity { id } } } } } } } } }`);
    // events, their identities, the identities' events, those events' identities.
    assert.equal(statements.length, 4, statements.join('\n---\n'));
  });
});
