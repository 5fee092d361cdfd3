import { GraphQLError } from 'graphql';

/** Every `extensions.code` this API answers with (docs/api.md, "Error codes"). */
export type ErrorCode =
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'BAD_USER_INPUT'
  | 'NOT_FOUND'
  | 'ALREADY_ENROLLED'
  | 'INVALID_PHONE_NUMBER'
  | 'MONITORING_ENDED'
  | 'BATCH_TOO_LARGE'
  | 'PROVIDER_UNAVAILABLE'
  | 'TOO_MANY_SUBSCRIPTIONS'
  | 'INTERNAL_SERVER_ERROR';

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
