import { type DestinationStream, type Logger, pino } from 'pino';
import type { NodeEnv } from '../config.js';

/**
 * Errors are logged by type, message and code only: no stack, no SQL text or parameters (TypeORM's
 * QueryFailedError carries both), so no secret or payload can reach a log line through an error.
 * An error-like plain object (`{message}`, as some libraries reject with) keeps its message too.
 */
function serializeError(err: unknown): Record<string, unknown> {
  if (typeof err !== 'object' || err === null) return { message: String(err) };
  const { message, code } = err as { message?: unknown; code?: unknown };
  const out: Record<string, unknown> = {};
  if (err instanceof Error) out.type = err.name;
  out.message = typeof message === 'string' ? message : 'an error without a message';
  if (typeof code === 'string' || typeof code === 'number') out.code = code;
  return out;
}

/**
 * Where log lines go: a stream of JSON lines (stdout when unset), or readable lines through
 * pino-pretty written to a file descriptor or file path.
 */
export type LogDestination = DestinationStream | { pretty: number | string };

/** The process logger: credentials redacted wherever a request's headers are logged, errors without stacks. */
export function createLogger(level: string, destination?: LogDestination): Logger {
  const pretty = destination !== undefined && 'pretty' in destination ? destination.pretty : null;
  const options = {
    level,
    base: { service: 'identity-monitor' },
    serializers: { err: serializeError, error: serializeError },
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["x-prove-authorization"]',
        'req.headers["svix-signature"]',
        'req.headers["webhook-signature"]',
        'headers.authorization',
        'headers["x-prove-authorization"]',
        'headers["svix-signature"]',
        'headers["webhook-signature"]',
      ],
      censor: '[redacted]',
    },
  };
  // Serializers and redaction run in this thread before pino-pretty's worker sees a line, so both apply.
  if (pretty !== null) {
    return pino({
      ...options,
      transport: {
        target: 'pino-pretty',
        options: {
          destination: pretty,
          translateTime: 'SYS:HH:MM:ss',
          ignore: 'service',
          singleLine: true,
          // Our serialised errors carry no stack: one line like any field, not pino-pretty's block.
          errorLikeObjectKeys: [],
          colorize: typeof pretty === 'number',
        },
      },
    });
  }
  return pino(options, destination as DestinationStream | undefined);
}

/** Readable lines for a person: development, on a terminal. JSON for tests, pipes and production. */
export function wantsPrettyLogs(nodeEnv: NodeEnv, stdoutIsTTY: boolean | undefined): boolean {
  return nodeEnv === 'development' && stdoutIsTTY === true;
}

/** The logger of `npm start` and the scripts, on stdout. */
export function createProcessLogger(config: { logLevel: string; nodeEnv: NodeEnv }): Logger {
  const pretty = wantsPrettyLogs(config.nodeEnv, process.stdout.isTTY);
  return createLogger(config.logLevel, pretty ? { pretty: 1 } : undefined);
}
