import type { ApolloServerOptionsWithGateway } from '@apollo/server';
import {
  type DocumentNode,
  type ExecutionResult,
  execute,
  GraphQLError,
  type GraphQLSchema,
  getOperationAST,
  getVariableValues,
  printSchema,
} from 'graphql';
import { type CompiledQuery, compileQuery, isCompiledQuery } from 'graphql-jit';
import { Counter, type Registry } from 'prom-client';
import type { GraphQLContext } from './context.js';

/**
 * Compiled execution (graphql-jit) for GraphQL over HTTP, behaving exactly as graphql-js does for the
 * caller; what it changes and how sameness is kept: docs/adr/0006-graphql-throughput.md.
 */

/** What Apollo Server's request pipeline hands the executor (a subset of its gateway request context). */
export interface ExecutionRequest {
  document: DocumentNode;
  operationName: string | null;
  variables: Record<string, unknown> | undefined;
  context: GraphQLContext;
  /** Apollo's hash of the query text: the key compiled documents are kept under. */
  queryHash: string;
}

export interface CompiledExecutorOptions {
  schema: GraphQLSchema;
  /** Executions on graphql-js before a document is compiled (default 1: compiled on its second use). */
  compileAfter?: number;
  /** Documents whose compilation is kept, least recently used dropped first (default 500). */
  maxDocuments?: number;
  /** Where `graphql_executions_total{engine}` is registered, when given. */
  registry?: Registry;
}

interface Entry {
  seen: number;
  /** Set once compiled; null when graphql-jit cannot compile the document (graphql-js runs it). */
  compiled?: CompiledQuery | null;
}

/** graphql-jit's error as the graphql-js GraphQLError that `execute` would have produced. */
function asGraphQLError(e: GraphQLError): GraphQLError {
  const rebuilt = new GraphQLError(e.message, {
    path: e.path,
    originalError: e.originalError ?? undefined,
    extensions: e.extensions,
  });
  // graphql-js derives locations from AST nodes, which graphql-jit keeps no more; it has computed them.
  if (e.locations) Object.assign(rebuilt, { locations: e.locations });
  return rebuilt;
}

/** Runs operations on compiled code where it can, on graphql-js where it cannot. */
export function createCompiledExecutor(opts: CompiledExecutorOptions) {
  const { schema } = opts;
  const compileAfter = opts.compileAfter ?? 1;
  const maxDocuments = opts.maxDocuments ?? 500;
  const entries = new Map<string, Entry>();
  const executions = new Counter({
    name: 'graphql_executions_total',
    help: 'GraphQL operations over HTTP by execution engine (jit: compiled by graphql-jit; graphql-js)',
    labelNames: ['engine'] as const,
    registers: opts.registry ? [opts.registry] : [],
  });

  /** The entry of a document, moved to the most recently used end (a Map iterates in insertion order). */
  function entryOf(key: string): Entry {
    const entry = entries.get(key) ?? { seen: 0 };
    entries.delete(key);
    entries.set(key, entry);
    if (entries.size > maxDocuments) entries.delete(entries.keys().next().value as string);
    return entry;
  }

  /** The compiled form of a query, once it is worth compiling and if graphql-jit can; else null. */
  function compiledFor(req: ExecutionRequest): CompiledQuery | null {
    const entry = entryOf(`${req.queryHash}:${req.operationName ?? ''}`);
    if (entry.compiled !== undefined) return entry.compiled;
    if (++entry.seen <= compileAfter) return null;
    const compiled = compileQuery(schema, req.document, req.operationName ?? undefined);
    entry.compiled = isCompiledQuery(compiled) ? compiled : null;
    return entry.compiled;
  }

  return {
    async execute(req: ExecutionRequest): Promise<ExecutionResult> {
      const operation = getOperationAST(req.document, req.operationName);
      // Mutations and subscriptions are rare and stateful: they stay on graphql-js.
      const compiled = operation?.operation === 'query' ? compiledFor(req) : null;
      if (!compiled || !operation) {
        executions.inc({ engine: 'graphql-js' });
        return execute({
          schema,
          document: req.document,
          contextValue: req.context,
          variableValues: req.variables,
          operationName: req.operationName,
        });
      }
      executions.inc({ engine: 'jit' });
      const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], req.variables ?? {});
      if (coerced.errors) return { errors: coerced.errors };
      const result = await compiled.query(undefined, req.context, req.variables ?? {});
      return result.errors ? { ...result, errors: result.errors.map(asGraphQLError) } : result;
    },
  };
}

type Gateway = ApolloServerOptionsWithGateway<GraphQLContext>['gateway'];

/**
 * The executor as Apollo Server's one seam for replacing `execute`: a "gateway" that serves a fixed
 * schema. Apollo still parses, validates, runs every plugin and formats every error; only execution
 * is ours. (Apollo Federation's gateway uses the same seam to execute query plans.)
 */
export function compiledExecutionGateway(opts: CompiledExecutorOptions): Gateway {
  const executor = createCompiledExecutor(opts);
  const coreSupergraphSdl = printSchema(opts.schema);
  const listeners = new Set<Parameters<Gateway['onSchemaLoadOrUpdate']>[0]>();
  return {
    onSchemaLoadOrUpdate(callback) {
      listeners.add(callback);
      return () => listeners.delete(callback);
    },
    async load() {
      for (const l of listeners) l({ apiSchema: opts.schema, coreSupergraphSdl });
      return {
        executor: (rc) =>
          executor.execute({
            document: rc.document,
            operationName: rc.operationName,
            variables: rc.request.variables,
            context: rc.context as GraphQLContext,
            queryHash: rc.queryHash,
          }),
      };
    },
    async stop() {
      listeners.clear();
    },
  };
}
