import {
  type ASTVisitor,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  GraphQLError,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  getNamedType,
  getNullableType,
  isInterfaceType,
  isListType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  type ParseOptions,
  parse,
  type SelectionSetNode,
  specifiedRules,
  type ValidationContext,
  type ValidationRule,
  validate,
} from 'graphql';
import { MAX_FIRST } from './pagination.js';

/**
 * Abuse limits of the GraphQL endpoint, for HTTP (Apollo, src/graphql/apollo.ts) and WebSocket
 * (graphql-ws, src/graphql/ws.ts) alike. Every limit refuses the whole document before anything
 * executes: no resolver runs and no SQL is sent. Written by hand rather than taken from graphql-armor:
 * its cost limit charges fixed object/scalar costs, while ours must multiply by the `first` of a page.
 *
 * Depth, aliases and cost are measured per operation with fragments expanded where they are spread
 * (a fragment spread ten times counts ten times); directives and tokens are counted in the document.
 */

/**
 * Fields nested inside one another, root fields at 1. The deepest query with a use,
 * `events { edges { node { identity { events { edges { node { identity { id } } } } } } } }`,
 * is 9 deep (from an event to its identity's other events, and to their identity); 10 leaves one
 * level for a client's habits. Each further hop through a connection costs 3 more levels and only
 * walks back to rows already fetched.
 */
export const MAX_DEPTH = 10;

/**
 * Aliases per operation. A dashboard aliases a handful of root fields (say one `riskSummary` per
 * provider); 30 is plenty for that, and refuses batching hundreds of `identity(id:)` lookups into
 * one request to get around request-rate limits.
 */
export const MAX_ALIASES = 30;

/**
 * Cost of an operation: every field selected counts 1, and the fields of the list under a page
 * (`edges` under `identities(first: N)`) count N times; so cost is close to the number of values in
 * the answer. The biggest page anyone needs, 100 identities with every field and each one's 20
 * latest events with every field, costs about 29,700; 50,000 (about 2 MB of JSON) admits it with
 * room and refuses twice that, or nested pages of 100 under pages of 100 (a million rows).
 */
export const MAX_COST = 50_000;

/**
 * Lexical tokens in a document, enforced while parsing so a huge document is never parsed in full.
 * The full introspection query is under 200 tokens, the biggest useful query about 150, and a
 * 100-item `batchEnrollIdentities` written inline (rather than as variables) about 1,450.
 */
export const MAX_TOKENS = 2000;

/**
 * Directive uses in a document. Our schema has only `@include` and `@skip` for operations, one per
 * optional part of a query; 20 is ample, and refuses directive floods that only make validation work.
 */
export const MAX_DIRECTIVES = 20;

/** Parser options of every GraphQL transport: the token limit. */
export const parseOptions: ParseOptions = { maxTokens: MAX_TOKENS };

const VALIDATION_FAILED = 'GRAPHQL_VALIDATION_FAILED';

function refusal(message: string, node?: OperationDefinitionNode | DocumentNode): GraphQLError {
  return new GraphQLError(message, {
    ...(node ? { nodes: node } : {}),
    extensions: { code: VALIDATION_FAILED },
  });
}

/** graphql-js words the token limit as "Document contains more that N tokens"; ours names the limit. */
const TOKEN_LIMIT_MESSAGE = /^Syntax Error: Document contains more tha[nt] \d+ tokens/;
const tokenLimitMessage = `document token count exceeds the limit of ${MAX_TOKENS}; parsing aborted`;

/** Rewrites the parser's token-limit error (in place, as Apollo copies the message afterwards) into ours. */
export function clarifyParseError(err: unknown): void {
  if (err instanceof GraphQLError && TOKEN_LIMIT_MESSAGE.test(err.message)) err.message = tokenLimitMessage;
}

/**
 * Parses with the token limit, for transports other than Apollo (graphql-ws). A bad document (syntax,
 * token limit) throws a GraphQLError with `extensions.code` GRAPHQL_PARSE_FAILED, as Apollo answers over HTTP.
 */
export function parseDocument(source: string): DocumentNode {
  try {
    return parse(source, parseOptions);
  } catch (err) {
    if (!(err instanceof GraphQLError)) throw err;
    clarifyParseError(err);
    throw new GraphQLError(err.message, {
      source: err.source ?? null,
      positions: err.positions ?? null,
      extensions: { code: 'GRAPHQL_PARSE_FAILED' },
    });
  }
}

/** Introspection is bounded by the schema (and off in production): it is not measured. */
const isIntrospection = (field: FieldNode) =>
  field.name.value === '__schema' || field.name.value === '__type';

type Measure = (
  set: SelectionSetNode,
  type: GraphQLNamedType | undefined,
  pageSize: number | undefined,
) => number;

/**
 * Measures a selection set, expanding fragment spreads. A fragment is measured once per page size
 * it is spread under (a fragment on a connection type gets the page of the field it is spread in);
 * a fragment cycle (refused by the spec's own rule, which runs alongside) measures 0 instead of
 * recursing forever.
 */
function measurer(
  context: ValidationContext,
  onField: (
    field: FieldNode,
    def: GraphQLField<unknown, unknown> | undefined,
    measure: Measure,
    pageSize: number | undefined,
  ) => number,
  combine: (a: number, b: number) => number,
): Measure {
  const fragments = new Map<string, number>();
  const visiting = new Set<string>();
  const typeOf = (name: string | undefined, fallback: GraphQLNamedType | undefined) =>
    name === undefined ? fallback : context.getSchema().getType(name);
  const fragment = (def: FragmentDefinitionNode, pageSize: number | undefined): number => {
    const name = def.name.value;
    const key = `${name}:${pageSize}`;
    const known = fragments.get(key);
    if (known !== undefined) return known;
    if (visiting.has(name)) return 0;
    visiting.add(name);
    const value = measure(def.selectionSet, typeOf(def.typeCondition.name.value, undefined), pageSize);
    visiting.delete(name);
    fragments.set(key, value);
    return value;
  };
  const measure: Measure = (set, type, pageSize) => {
    let total = 0;
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        const def =
          isObjectType(type) || isInterfaceType(type) ? type.getFields()[sel.name.value] : undefined;
        total = combine(total, onField(sel, def, measure, pageSize));
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        total = combine(
          total,
          measure(sel.selectionSet, typeOf(sel.typeCondition?.name.value, type), pageSize),
        );
      } else {
        const def = context.getFragment(sel.name.value);
        if (def) total = combine(total, fragment(def, pageSize));
      }
    }
    return total;
  };
  return measure;
}

const childType = (def: GraphQLField<unknown, unknown> | undefined) =>
  def ? getNamedType(def.type) : undefined;

/** A rule that measures each operation and refuses the ones over `limit`. */
function operationLimit(
  describe: (op: OperationDefinitionNode, value: number) => string,
  limit: number,
  makeMeasure: (context: ValidationContext) => Measure,
): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const measure = makeMeasure(context);
    return {
      OperationDefinition(op) {
        const root = context.getSchema().getRootType(op.operation) ?? undefined;
        const value = measure(op.selectionSet, root, undefined);
        if (value > limit) context.reportError(refusal(describe(op, value), op));
      },
    };
  };
}

/** Refuses an operation nested deeper than MAX_DEPTH fields. */
export const MaxDepthRule = operationLimit(
  (op, depth) => `${op.operation} depth ${depth} exceeds the limit of ${MAX_DEPTH}`,
  MAX_DEPTH,
  (context) =>
    measurer(
      context,
      (field, def, measure) =>
        isIntrospection(field)
          ? 0
          : 1 + (field.selectionSet ? measure(field.selectionSet, childType(def), undefined) : 0),
      Math.max,
    ),
);

/** Refuses an operation with more than MAX_ALIASES aliased fields. */
export const MaxAliasesRule = operationLimit(
  (op, count) => `${op.operation} alias count ${count} exceeds the limit of ${MAX_ALIASES}`,
  MAX_ALIASES,
  (context) =>
    measurer(
      context,
      (field, def, measure) =>
        (field.alias ? 1 : 0) +
        (field.selectionSet ? measure(field.selectionSet, childType(def), undefined) : 0),
      (a, b) => a + b,
    ),
);

/**
 * The page size a field asks for with `first`, as the server serves it (capped at MAX_FIRST, at least 1);
 * undefined when the field takes no `first`. A variable counts as the cap: validation runs once per
 * document (Apollo caches validated documents), before and whatever the variables' values.
 */
function pageSizeOf(field: FieldNode, def: GraphQLField<unknown, unknown> | undefined): number | undefined {
  const arg = def?.args.find((a) => a.name === 'first');
  if (!arg) return undefined;
  const given = field.arguments?.find((a) => a.name.value === 'first')?.value;
  let size: number;
  if (given === undefined) size = typeof arg.defaultValue === 'number' ? arg.defaultValue : MAX_FIRST;
  else if (given.kind === Kind.INT) size = Number(given.value);
  else size = MAX_FIRST; // a variable, or a value of the wrong type that validation refuses anyway
  return Math.min(Math.max(size, 1), MAX_FIRST);
}

/**
 * Refuses an operation whose cost exceeds MAX_COST: 1 per field, and a list field counts its subtree
 * once per item of the page it belongs to (its own `first`, or that of the connection it is the
 * `edges` of); a list with no page (RiskSummary.byRiskLevel, a handful of enum values) counts once.
 */
export const MaxCostRule = operationLimit(
  (op, cost) => `${op.operation} cost ${cost} exceeds the limit of ${MAX_COST}`,
  MAX_COST,
  (context) =>
    measurer(
      context,
      (field, def, measure, parentPage) => {
        if (isIntrospection(field)) return 0;
        if (!field.selectionSet) return 1;
        const own = pageSizeOf(field, def);
        const isList = def !== undefined && isListType(getNullableType(def.type));
        const times = isList ? (own ?? parentPage ?? 1) : 1;
        // A connection hands its page size down to the list beneath it (`edges`).
        const handDown = isList ? undefined : own;
        return 1 + times * measure(field.selectionSet, childType(def), handDown);
      },
      (a, b) => a + b,
    ),
);

/** Refuses a document with more than MAX_DIRECTIVES directive uses. */
export const MaxDirectivesRule: ValidationRule = (context) => {
  let count = 0;
  return {
    Directive() {
      count += 1;
    },
    Document: {
      leave(doc) {
        if (count > MAX_DIRECTIVES) {
          context.reportError(
            refusal(`document directive count ${count} exceeds the limit of ${MAX_DIRECTIVES}`, doc),
          );
        }
      },
    },
  };
};

/**
 * graphql-js's "Did you mean …?" hints name fields and enum values: in production they would give the
 * schema away without introspection.
 */
const SUGGESTION = / ?Did you mean [^?]*\?/g;

/** The message without graphql-js's "Did you mean …?" hints. */
export const withoutSuggestions = (message: string): string => message.replace(SUGGESTION, '');

/** Our limits, to run after graphql's specified rules. */
export const limitRules: readonly ValidationRule[] = [
  MaxDepthRule,
  MaxAliasesRule,
  MaxCostRule,
  MaxDirectivesRule,
];

/**
 * graphql's standard validation plus our limits, for transports other than Apollo (graphql-ws).
 * Every error carries `extensions.code` GRAPHQL_VALIDATION_FAILED, as Apollo answers over HTTP;
 * `hideSuggestions` (production) drops the "Did you mean …?" hints, as Apollo does.
 */
export function validateOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  opts: { hideSuggestions?: boolean } = {},
): readonly GraphQLError[] {
  let errors: readonly GraphQLError[];
  try {
    errors = validate(schema, document, [...specifiedRules, ...limitRules]);
  } catch (err) {
    // graphql-js 16's SingleFieldSubscriptionsRule evaluates @skip/@include and throws on a bad
    // argument (`@skip(if: 1)`) instead of reporting it: a validation error all the same.
    if (!(err instanceof GraphQLError)) throw err;
    errors = [err];
  }
  return errors.map((err) =>
    err.extensions.code === VALIDATION_FAILED
      ? err
      : new GraphQLError(opts.hideSuggestions ? withoutSuggestions(err.message) : err.message, {
          nodes: err.nodes ?? null,
          source: err.source ?? null,
          positions: err.positions ?? null,
          originalError: err.originalError ?? null,
          extensions: { ...err.extensions, code: VALIDATION_FAILED },
        }),
  );
}
