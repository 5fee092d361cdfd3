import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { fastifyApolloDrainPlugin } from '@as-integrations/fastify';
import type { FastifyInstance } from 'fastify';
import type { GraphQLSchema } from 'graphql';
import type { Logger } from 'pino';
import type { Metrics } from '../observability/metrics.js';
import type { GraphQLContext } from './context.js';
import { maskErrors, rememberRequestId } from './errors.js';
import { compiledExecutionGateway } from './executor.js';
import { clarifyParseError, limitRules, parseOptions } from './limits.js';
import type { ResponseCache } from './response-cache.js';

function errorContextPlugin(): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors(rc) {
          for (const err of rc.errors) rememberRequestId(err, rc.contextValue.requestId);
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
    // src/main.ts stops the whole server on SIGTERM and SIGINT, Apollo in its turn (src/server.ts); Apollo's
    // own handlers (outside NODE_ENV=test) would close fastify before the sockets are told 1001.
    stopOnTerminationSignals: false,
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
