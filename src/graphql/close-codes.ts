import { CloseCode } from 'graphql-ws';

/**
 * Every close code a /graphql WebSocket can end with, its reason text and when it is sent: the one
 * table the transport takes its codes and reasons from. docs/api.md ("WebSocket close codes") lists the
 * same codes; test/unit/vocabularies.test.ts compares the two. graphql-ws's codes are its own CloseCode
 * values; `reason: null` where graphql-ws or ws sends the code with its own reason.
 */
export const CLOSE_CODES = {
  /** RFC 6455 §7.4.1 "going away": every socket, on shutdown. */
  goingAway: { code: 1001, reason: 'server shutting down', when: 'the server is shutting down' },
  /** Sent by ws itself for a frame over maxPayload (src/graphql/ws.ts). */
  messageTooBig: { code: 1009, reason: null, when: 'a message over 64 KiB' },
  /** RFC 6455 "Try Again Later": the client should reconnect and resume from its last cursor. */
  tooFarBehind: {
    code: 1013,
    reason: 'subscriber too far behind; resume from your last cursor',
    when: 'the subscriber fell more than 1,000 events behind',
  },
  /**
   * At connection_init beyond a connection limit, the reason naming the limit (src/graphql/ws-limits.ts).
   * 4000-4999 is for applications and graphql-ws takes 4400-4409, 4429, 4500 and 4504; its client
   * retries this one with backoff, as it should: a place frees up when another socket closes.
   */
  tooManyConnections: {
    code: 4029,
    reason: null,
    when: 'too many connections for the token subject or replica',
  },
  badRequest: { code: CloseCode.BadRequest, reason: null, when: 'a malformed protocol message' },
  /** graphql-ws sends it for a subscribe before the acknowledgement; we send it when the token expires. */
  tokenExpired: { code: CloseCode.Unauthorized, reason: 'token expired', when: "the socket's token expired" },
  /** graphql-ws sends it when onConnect refuses the token (src/graphql/ws.ts). */
  forbidden: { code: CloseCode.Forbidden, reason: null, when: 'missing or invalid token in connection_init' },
  subprotocolNotAcceptable: {
    code: CloseCode.SubprotocolNotAcceptable,
    reason: null,
    when: 'the subprotocol is not graphql-transport-ws',
  },
  initTimeout: {
    code: CloseCode.ConnectionInitialisationTimeout,
    reason: null,
    when: 'no connection_init within 3 s',
  },
  subscriberExists: {
    code: CloseCode.SubscriberAlreadyExists,
    reason: null,
    when: 'a subscription id already in use on this socket',
  },
  tooManyInits: {
    code: CloseCode.TooManyInitialisationRequests,
    reason: null,
    when: 'a second connection_init',
  },
  /** graphql-ws's for a hook that throws; ours for a socket error or a failed message handler (ws-transport.ts). */
  internalError: {
    code: CloseCode.InternalServerError,
    reason: 'Internal server error',
    when: 'an internal error',
  },
} as const satisfies Record<string, { code: number; reason: string | null; when: string }>;
