import { type DestinationStream, type Logger, pino } from 'pino';

/**
 * Errors are logged by type, message and code only: no stack, no SQL text or parameters (TypeORM's
 * QueryFailedError carries both), so no secret or payload can reach a log line through an error.
 */
function serializeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) };
  const out: Record<string, unknown> = { type: err.name, message: err.message };
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') out.code = code;
  return out;
}

/** The process logger: JSON lines, credentials redacted wherever a request's headers are logged. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
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
    },
    destination,
  );
}
