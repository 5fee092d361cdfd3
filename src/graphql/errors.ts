import { ApolloServerErrorCode, unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { Logger } from 'pino';
import { ERROR_CODE_LIST, type ErrorCode } from '../domain/error-codes.js';
import { InvalidInputError } from '../domain/errors.js';
import { withoutSuggestions } from './limits.js';

/** An error meant for the caller: its message and code are shown as they are. */
export class ApiError extends GraphQLError {
  constructor(code: ErrorCode, message: string, extra: Record<string, unknown> = {}) {
    super(message, { extensions: { code, ...extra } });
  }
}

export const unauthenticated = (message = 'a valid bearer token is required') =>
  new ApiError('UNAUTHENTICATED', message);
export const forbidden = (scope: string) =>
  new ApiError('FORBIDDEN', `this operation needs the ${scope} scope`);
export const badInput = (message: string) => new ApiError('BAD_USER_INPUT', message);
export const notFound = (what: string) => new ApiError('NOT_FOUND', `${what} not found`);

/** Runs a domain step whose InvalidInputError is the caller's mistake, answering it as BAD_USER_INPUT. */
export function asUserInput<T>(step: () => T): T {
  try {
    return step();
  } catch (err) {
    if (err instanceof InvalidInputError) throw badInput(err.message);
    throw err;
  }
}

/**
 * Apollo's own codes for a request it refuses as malformed (some also sent by our WebSocket transport,
 * in Apollo's words): answered as they are. docs/api.md lists them apart from the API's own.
 */
export const APOLLO_REQUEST_CODES = [
  ApolloServerErrorCode.GRAPHQL_PARSE_FAILED,
  ApolloServerErrorCode.GRAPHQL_VALIDATION_FAILED,
  ApolloServerErrorCode.BAD_REQUEST,
  ApolloServerErrorCode.PERSISTED_QUERY_NOT_FOUND,
  ApolloServerErrorCode.PERSISTED_QUERY_NOT_SUPPORTED,
  ApolloServerErrorCode.OPERATION_RESOLUTION_FAILURE,
] as const;

/**
 * Codes whose message is meant for the caller: every code of the API (src/domain/error-codes.ts) and
 * Apollo's request codes. INTERNAL_SERVER_ERROR is not: one thrown as such is masked like any other.
 */
export const PUBLIC_CODES: ReadonlySet<string> = new Set<string>([
  ...ERROR_CODE_LIST.filter((code) => code !== 'INTERNAL_SERVER_ERROR'),
  ...APOLLO_REQUEST_CODES,
]);

/** The request id of each error a request met: formatError gets no context, so errorContextPlugin records it. */
const requestIdOf = new WeakMap<object, string>();

/** Called by the transports' error hooks: formatError gets no context, so the id is looked up here. */
export function rememberRequestId(err: object, requestId: string): void {
  requestIdOf.set(err, requestId);
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
