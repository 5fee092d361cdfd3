import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { isObjectType } from 'graphql';
import { IdentityEntity } from '../../src/db/entities/index.js';
import { schemaSdl } from '../../src/graphql/print-schema.js';
import { IdentityResolver } from '../../src/graphql/resolvers/identity.resolver.js';
import { createSchema } from '../../src/graphql/schema.js';

describe('GraphQL schema', () => {
  it('schema.graphql at the repository root matches the code (run `npm run schema` after changing it)', async () => {
    const committed = await readFile(new URL('../../../schema.graphql', import.meta.url), 'utf8');
    assert.equal(committed, await schemaSdl());
  });

  it('is compiled with decorator metadata (the test build emits what type-graphql and TypeORM read)', () => {
    // esbuild-based runners drop emitDecoratorMetadata; this build (tsc) must not.
    const params = Reflect.getMetadata(
      'design:paramtypes',
      IdentityResolver.prototype,
      'identity',
    ) as unknown[];
    // (id: string, ctx: GraphQLContext, info: GraphQLResolveInfo): interfaces are emitted as Object.
    assert.deepEqual(params, [String, Object, Object]);
    assert.equal(Reflect.getMetadata('design:type', IdentityEntity.prototype, 'enrolledAt'), Object);
    assert.equal(Reflect.getMetadata('design:type', IdentityEntity.prototype, 'id'), String);
  });

  it('gives plain fields no resolver of its own (simpleResolvers), so graphql-jit reads them inline', async () => {
    const schema = await createSchema();
    const roots = new Set([schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]);
    const resolved: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith('__') || roots.has(type)) continue;
      for (const field of Object.values(type.getFields()))
        if (field.resolve) resolved.push(`${type.name}.${field.name}`);
    }
    // The field resolvers of the resolver classes, and nothing else.
    assert.deepEqual(resolved.sort(), ['Identity.events', 'Identity.phoneNumber', 'IdentityEvent.identity']);
  });
});
