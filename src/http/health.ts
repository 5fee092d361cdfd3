import type { FastifyInstance } from 'fastify';
import type { DataSource } from 'typeorm';
import { migrationsApplied } from '../db/data-source.js';
import type { Metrics } from '../observability/metrics.js';

/**
 * /healthz (the process runs, and `served` says which: a cluster worker's index and PID), /readyz
 * (database answers, migrations applied), /metrics.
 */
export function registerHealthRoutes(
  app: FastifyInstance,
  db: DataSource,
  metrics: Metrics,
  served: Record<string, unknown> = {},
): void {
  app.get('/healthz', async () => ({ status: 'ok', ...served }));

  app.get('/readyz', async (req, reply) => {
    try {
      if (await migrationsApplied(db)) return { status: 'ready' };
      return reply.code(503).send({ status: 'unavailable', reason: 'migrations_pending' });
    } catch (err) {
      // The err serializer keeps the message and drops the SQL text (src/observability/logger.ts).
      req.log.warn({ err }, 'readiness check failed');
      return reply.code(503).send({ status: 'unavailable', reason: 'database_unreachable' });
    }
  });

  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
