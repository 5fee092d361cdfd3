/**
 * Generated GraphQL requests for test/reliability/fuzz-graphql.test.ts: documents walked from the
 * real schema (random fields, arguments, aliases, fragments, directives, variables), documents beyond
 * each limit of src/graphql/limits.ts, and garbage. fast-check generates a small recipe (a seed and the
 * knobs); the document is built from it deterministically, so a failure shrinks to a simpler recipe.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import {
  buildSchema,
  type GraphQLArgument,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLObjectType,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
} from 'graphql';
import { MAX_ALIASES, MAX_DEPTH, MAX_DIRECTIVES, MAX_TOKENS } from '../../src/graphql/limits.js';
import { DIST } from '../helpers/process.js';
import { rng } from '../helpers/random.js';

const schema = buildSchema(readFileSync(path.join(DIST, '..', 'schema.graphql'), 'utf8'));

/** One request: a POST body as JSON, or raw bytes that may not be JSON at all. */
export interface GqlRequest {
  body: string;
  /** Over graphql-ws instead of HTTP (subscriptions only there; anything else must be refused cleanly). */
  ws?: { query: string; variables?: unknown };
}

export interface Knobs {
  seed: number;
  depth: number;
  width: number;
  aliases: number;
  fragments: number;
  directives: number;
  variables: number;
  wrongArgs: number;
}

const SCALAR_VALUES: Record<string, readonly string[]> = {
  Int: ['0', '1', '-1', '20', '100', '101', '2147483647', '-2147483648', '2147483648', '1e3', '"7"', 'null'],
  Float: ['0.5', '-1e300', '1e400', '"x"'],
  String: [
    '""',
    '"a"',
    '"\\u0000"',
    '"\\ud800"',
    '"é😀"',
    '"\'; DROP TABLE identities; --"',
    '"eyJpZCI6MX0"',
    '1',
  ],
  ID: ['"00000000-0000-0000-0000-000000000000"', '"not-a-uuid"', '""', '"SWRlbnRpdHk6MQ=="', '1', 'null'],
  Boolean: ['true', 'false', '"true"', '0'],
  DateTime: [
    '"2026-01-01T00:00:00Z"',
    '"not a date"',
    '"+275760-09-13T00:00:00Z"',
    '"0000-01-01T00:00:00Z"',
    '0',
  ],
};

const JSON_VALUES: readonly unknown[] = [
  0,
  -1,
  101,
  2 ** 31,
  1e300,
  'x',
  '',
  '\u0000',
  '\ud800',
  '2026-01-01T00:00:00Z',
  'PROVE',
  'HIGH',
  null,
  true,
  [],
  {},
  ['PORT', 'NOPE'],
  JSON.parse('{"__proto__": {"admin": true}}'),
  JSON.parse('{"constructor": {"prototype": {}}}'),
];

/** Builds one document from a seeded generator; every choice is the generator's, in a fixed order. */
export function buildDocument(
  k: Knobs,
  operation: 'query' | 'mutation' | 'subscription',
): {
  query: string;
  variables: Record<string, unknown>;
} {
  const r = rng(k.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const chance = (p: number) => r() < p;
  const varDefs: string[] = [];
  const variables: Record<string, unknown> = {};
  const fragments: string[] = [];
  let aliasCount = 0;
  let directiveCount = 0;

  const typeText = (t: GraphQLInputType): string => t.toString();

  function value(t: GraphQLInputType, nesting: number): string {
    if (chance(k.wrongArgs))
      return pick([...Object.values(SCALAR_VALUES).flat(), '[]', '{}', 'NOPE', '$undeclared']);
    if (isNonNullType(t)) return value(t.ofType, nesting);
    if (isListType(t)) {
      const n = chance(0.1) ? 101 : Math.floor(r() * 3);
      return `[${Array.from({ length: n }, () => value(t.ofType as GraphQLInputType, nesting + 1)).join(', ')}]`;
    }
    if (isEnumType(t)) return chance(0.9) ? pick(t.getValues()).name : 'NOT_A_VALUE';
    if (isInputObjectType(t)) {
      if (nesting > 3) return '{}';
      const fields = Object.values(t.getFields()).filter(() => chance(0.5));
      return `{ ${fields.map((f) => `${f.name}: ${value(f.type, nesting + 1)}`).join(', ')} }`;
    }
    if (isScalarType(t)) return pick(SCALAR_VALUES[t.name] ?? ['null']);
    return 'null';
  }

  function argument(a: GraphQLArgument): string {
    if (chance(k.variables)) {
      const name = `v${varDefs.length}`;
      varDefs.push(`$${name}: ${typeText(a.type)}`);
      variables[name] = pick(JSON_VALUES);
      return `${a.name}: $${name}`;
    }
    return `${a.name}: ${value(a.type, 0)}`;
  }

  function directive(): string {
    if (directiveCount >= MAX_DIRECTIVES * 2 || !chance(k.directives)) return '';
    directiveCount++;
    const name = pick(['include', 'skip', 'include', 'deprecated', 'nope']);
    return ` @${name}(if: ${pick(['true', 'false', '1', '"yes"'])})`;
  }

  function selection(type: GraphQLNamedType | undefined, depth: number): string {
    if (!type || !isObjectType(type)) return '__typename';
    const fields = Object.values((type as GraphQLObjectType).getFields());
    const leaves = fields.filter((f) => !isObjectType(getNamedType(f.type)));
    const count = 1 + Math.floor(r() * k.width);
    const parts: string[] = [];
    for (let i = 0; i < count; i++) {
      const usable = depth >= k.depth ? leaves : fields;
      if (usable.length === 0 || chance(0.05)) {
        parts.push(chance(0.5) ? '__typename' : pick(['nope', 'id', '__schema { queryType { name } }']));
        continue;
      }
      const f = pick(usable);
      const alias = chance(k.aliases) && aliasCount < MAX_ALIASES * 2 ? `a${aliasCount++}: ` : '';
      const args = f.args.filter((a) => isNonNullType(a.type) || chance(0.6)).map(argument);
      const argText = args.length ? `(${args.join(', ')})` : '';
      const child = getNamedType(f.type);
      const sub = isObjectType(child) ? ` { ${selection(child, depth + 1)} }` : '';
      let text = `${alias}${f.name}${argText}${directive()}${sub}`;
      if (chance(k.fragments)) {
        if (chance(0.5)) text = `... on ${type.name} { ${text} }`;
        else {
          const name = `F${fragments.length}`;
          fragments.push(`fragment ${name} on ${type.name} { ${text} }`);
          text = `...${name}`;
        }
      }
      parts.push(text);
    }
    return parts.join(' ');
  }

  const root =
    operation === 'query'
      ? schema.getQueryType()
      : operation === 'mutation'
        ? schema.getMutationType()
        : schema.getSubscriptionType();
  const body = selection(root ?? undefined, 1);
  const defs = varDefs.length ? `(${varDefs.join(', ')})` : '';
  return { query: [`${operation} Op${defs} { ${body} }`, ...fragments].join('\n'), variables };
}

const knobs: fc.Arbitrary<Knobs> = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  depth: fc.integer({ min: 1, max: MAX_DEPTH + 4 }),
  width: fc.integer({ min: 1, max: 5 }),
  aliases: fc.double({ min: 0, max: 0.6, noNaN: true }),
  fragments: fc.double({ min: 0, max: 0.3, noNaN: true }),
  directives: fc.double({ min: 0, max: 0.3, noNaN: true }),
  variables: fc.double({ min: 0, max: 0.5, noNaN: true }),
  wrongArgs: fc.double({ min: 0, max: 0.2, noNaN: true }),
});

const post = (query: unknown, variables?: unknown, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ query, ...(variables === undefined ? {} : { variables }), ...extra });

/** The chain `events { edges { node { identity { events … } } } }`, `depth` fields deep. */
function deepChain(depth: number): string {
  const cycle = ['events', 'edges', 'node', 'identity'];
  const fields = Array.from({ length: depth }, (_, i) => cycle[i % cycle.length] as string);
  return `{ ${fields.map((f) => `${f} { `).join('')}__typename${' }'.repeat(fields.length)} }`;
}

/** Documents past one limit each: depth, aliases, tokens, directives, cost. */
const beyondLimits: fc.Arbitrary<GqlRequest> = fc.oneof(
  fc.integer({ min: MAX_DEPTH + 1, max: 200 }).map((d) => ({ body: post(deepChain(d)) })),
  fc.integer({ min: MAX_ALIASES + 1, max: 500 }).map((n) => ({
    body: post(`{ ${Array.from({ length: n }, (_, i) => `a${i}: riskSummary { total }`).join(' ')} }`),
  })),
  fc.integer({ min: MAX_TOKENS, max: 50_000 }).map((n) => ({ body: post(`{ ${'__typename '.repeat(n)}}`) })),
  fc
    .integer({ min: MAX_DIRECTIVES + 1, max: 300 })
    .map((n) => ({ body: post(`{ riskSummary { total${' @include(if: true)'.repeat(n)} } }`) })),
  fc.constantFrom(100, 50, 30).map((n) => ({
    body: post(
      `{ identities(first: ${n}) { edges { node { events(first: 100) { edges { node { id identity { events(first: 100) { edges { node { id } } } } } } } } } } }`,
    ),
  })),
  fc
    .integer({ min: 2, max: 5000 })
    .map((n) => ({ body: post(`${'{ riskSummary '.repeat(n)}${'}'.repeat(n)}`) })),
  fc.integer({ min: 1, max: 20 }).map((n) => ({
    body: post(
      `query Q { ...A } ${Array.from({ length: n }, (_, i) => `fragment ${String.fromCharCode(65 + i)} on Query { ...${String.fromCharCode(66 + (i % n))} }`).join(' ')}`,
    ),
  })),
);

/** Not a GraphQL request at all, or a malformed one. */
const garbage: fc.Arbitrary<GqlRequest> = fc.oneof(
  fc.string().map((s) => ({ body: post(s) })),
  fc.string({ unit: 'binary', maxLength: 200 }).map((s) => ({ body: post(s) })),
  fc.string({ unit: 'binary', maxLength: 200 }).map((s) => ({ body: s })),
  fc.jsonValue().map((v) => ({ body: JSON.stringify(v) ?? 'null' })),
  fc.jsonValue().map((v) => ({ body: post('{ riskSummary { total } }', v) })),
  fc.jsonValue().map((v) => ({ body: post(v) })),
  fc.constantFrom(
    { body: '' },
    { body: '[]' },
    { body: post('{ riskSummary { total } }', undefined, { operationName: 1 }) },
    {
      body: post('query A { riskSummary { total } } query B { riskSummary { total } }', undefined, {
        operationName: 'C',
      }),
    },
    { body: post('query A { riskSummary { total } } query B { riskSummary { total } }') },
    {
      body: post('{ riskSummary { total } }', undefined, {
        extensions: { persistedQuery: { version: 1, sha256Hash: 'x' } },
      }),
    },
    {
      body: JSON.stringify([{ query: '{ riskSummary { total } }' }, { query: '{ riskSummary { total } }' }]),
    },
    { body: '{"query": "{ riskSummary { total } }", "query": 1}' },
    {
      body: `{"query":"{ __typename }","__proto__":{"query":"mutation { deactivateIdentity(id: \\"x\\") { id } }"}}`,
    },
  ),
);

/** Every kind of GraphQL request; about one in ten over graphql-ws. */
export const gqlRequest: fc.Arbitrary<GqlRequest> = fc.oneof(
  { weight: 6, arbitrary: knobs.map((k) => ({ body: JSON.stringify(buildDocument(k, 'query')) })) },
  { weight: 1, arbitrary: knobs.map((k) => ({ body: JSON.stringify(buildDocument(k, 'mutation')) })) },
  { weight: 3, arbitrary: beyondLimits },
  { weight: 3, arbitrary: garbage },
  {
    weight: 1,
    arbitrary: fc
      .tuple(knobs, fc.constantFrom('subscription' as const, 'subscription' as const, 'query' as const))
      .map(([k, op]) => {
        const doc = buildDocument(k, op);
        return { body: '', ws: { query: doc.query, variables: doc.variables } };
      }),
  },
  {
    weight: 1,
    arbitrary: fc.oneof(beyondLimits, garbage).map((g) => {
      const parsed = (() => {
        try {
          // A body of `null` parses to null, which has no fields to read.
          return (JSON.parse(g.body) ?? {}) as { query?: unknown; variables?: unknown };
        } catch {
          return { query: g.body };
        }
      })();
      return {
        body: '',
        ws: {
          query: typeof parsed.query === 'string' ? parsed.query : String(parsed.query),
          variables: parsed.variables,
        },
      };
    }),
  },
);
