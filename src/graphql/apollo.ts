import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { fastifyApolloDrainPlugin } from '@as-integrations/fastify';
import type { FastifyInstance } from 'fastify';
import { GraphQLError, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import type { Logger } from 'pino';
import type { Metrics } from '../http/metrics.js';
import type { GraphQLContext } from './context.js';
import { compiledExecutionGateway } from './executor.js';
import { clarifyParseError, limitRules, parseOptions, withoutSuggestions } from './limits.js';
import type { ResponseCache } from './response-cache.js';

/** Codes whose message is meant for the caller. Anything else is masked as INTERNAL_SERVER_ERROR. */
export const PUBLIC_CODES: ReadonlySet<string> = new Set([
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'ALREADY_ENROLLED',
  'INVALID_PHONE_NUMBER',
  'MONITORING_ENDED',
  'BATCH_TOO_LARGE',
  'PROVIDER_UNAVAILABLE',
  'TOO_MANY_SUBSCRIPTIONS',
  // Apollo's own, for malformed requests.
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
]);

/** The request id of each error a request met: formatError gets no context, so errorContextPlugin records it. */
const requestIdOf = new WeakMap<object, string>();

function errorContextPlugin(): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors(rc) {
          for (const err of rc.errors) requestIdOf.set(err, rc.contextValue.requestId);
        },
      };
    },
  };
}

/** Words the parser's token-limit error as our other limits are (src/graphql/limits.ts). */
function tokenLimitMessagePlugin(): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async parsingDidStart() {
          return async (err) => clarifyParseError(err);
        },
      };
    },
  };
}

/** No cause, or graphql-js's own coercion error with none of its own. */
function isGraphqlJsOwn(cause: Error | undefined): boolean {
  return cause === undefined || (cause instanceof GraphQLError && !cause.originalError);
}

/**
 * Apollo's refusals of a malformed request that carry no code, only HTTP 400: a persisted-query hash
 * that does not match its query, an unsupported persisted-query version. A resolver's error has a path.
 */
function isCodelessRequestError(err: unknown): err is GraphQLError {
  if (!(err instanceof GraphQLError) || err.originalError || err.path) return false;
  return (err.extensions.http as { status?: unknown } | undefined)?.status === 400;
}

/**
 * Unexpected errors (a failed SQL statement, a bug) are logged with the request id and answered as
 * INTERNAL_SERVER_ERROR without details: no stack, SQL or secret reaches a caller.
 */
export function maskErrors(log: Logger, opts: { production: boolean } = { production: false }) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.code;
    if (typeof code === 'string' && PUBLIC_CODES.has(code)) {
      const { stacktrace: _drop, ...extensions } = formatted.extensions ?? {};
      // Apollo strips "Did you mean …?" from validation errors (hideSchemaDetailsFromClientErrors),
      // not from variable values ("Did you mean the enum value …?"): done here for every public error.
      const message = opts.production ? withoutSuggestions(formatted.message) : formatted.message;
      return { ...formatted, message, extensions };
    }
    const original = unwrapResolverError(error);
    // Variable coercion failures carry no code in some paths (graphql-ws) but are the caller's fault and
    // safe: graphql-js wraps its own coercion error, never one thrown by our code (that one is masked).
    if (
      original instanceof GraphQLError &&
      isGraphqlJsOwn(original.originalError) &&
      formatted.message.startsWith('Variable ')
    ) {
      const message = opts.production ? withoutSuggestions(formatted.message) : formatted.message;
      return { message, extensions: { code: 'BAD_USER_INPUT' } };
    }
    const requestId = typeof error === 'object' && error !== null ? requestIdOf.get(error) : undefined;
    if (isCodelessRequestError(original)) {
      // The caller's mistake, answered as Apollo's other malformed requests are; no error to look into.
      log.debug({ requestId, message: formatted.message }, 'malformed GraphQL request refused');
      return { message: formatted.message, extensions: { code: 'BAD_REQUEST' } };
    }
    log.error({ err: original, path: formatted.path, requestId }, 'unexpected GraphQL error');
    return {
      message: 'Internal server error',
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    };
  };
}

function metricsPlugin(metrics: Metrics): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      const end = metrics.graphqlOperations.startTimer();
      let operation = 'unknown';
      return {
        async didResolveOperation(rc) {
          operation = rc.operation?.operation ?? 'unknown';
        },
        async willSendResponse(rc) {
          const errors =
            rc.response.body.kind === 'single' ? rc.response.body.singleResult.errors : undefined;
          end({ operation, outcome: errors?.length ? 'error' : 'ok' });
        },
      };
    },
  };
}

export interface ApolloOptions {
  schema: GraphQLSchema;
  app: FastifyInstance;
  log: Logger;
  metrics: Metrics;
  production: boolean;
  /** Answers repeated read queries from memory when given (docs/adr/0008-response-cache.md). */
  responseCache?: ResponseCache | null;
}

/** Apollo Server for GraphQL over HTTP: masked errors, no introspection in production, drained on close. */
export function createApollo(opts: ApolloOptions): ApolloServer<GraphQLContext> {
  return new ApolloServer<GraphQLContext>({
    // Queries run compiled by graphql-jit from their second use (docs/adr/0006-graphql-throughput.md).
    gateway: compiledExecutionGateway({ schema: opts.schema, registry: opts.metrics.registry }),
    introspection: !opts.production,
    includeStacktraceInErrorResponses: false,
    hideSchemaDetailsFromClientErrors: opts.production,
    // A request is safe from CSRF when a browser would have had to preflight it. Apollo's default list of
    // such headers leaves out Authorization, which every request of this API carries (bearer tokens, no
    // cookies): a plain GraphQL-over-HTTP GET with a token is served, and a simple request without one
    // is still refused before anything runs.
    csrfPrevention: {
      requestHeaders: ['authorization', 'x-apollo-operation-name', 'apollo-require-preflight'],
    },
    // Abuse limits (src/graphql/limits.ts): tokens while parsing, the rest as validation rules.
    parseOptions,
    validationRules: [...limitRules],
    formatError: maskErrors(opts.log, { production: opts.production }),
    plugins: [
      fastifyApolloDrainPlugin(opts.app),
      // We set no cache hints; the plugin would otherwise wrap every resolver.
      ApolloServerPluginCacheControlDisabled(),
      // Apollo's landing pages load from its CDN; browsers get the local explorer (src/http/explorer.ts).
      ApolloServerPluginLandingPageDisabled(),
      metricsPlugin(opts.metrics),
      errorContextPlugin(),
      tokenLimitMessagePlugin(),
      ...(opts.responseCache ? [opts.responseCache.plugin()] : []),
    ],
  });
}
