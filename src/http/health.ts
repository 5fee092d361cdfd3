import type { FastifyInstance } from 'fastify';
import type { DataSource } from 'typeorm';
import { migrationsApplied } from '../db/data-source.js';
import type { Metrics } from '../observability/metrics.js';

export interface HealthOptions {
  /** Fields /healthz adds: a cluster worker's index and PID. */
  served?: Record<string, unknown>;
  /** What /metrics answers instead of this server's registry: a cluster's, every worker's. */
  metricsText?: () => Promise<string>;
}

/** /healthz (the process runs), /readyz (database answers, migrations applied), /metrics. */
export function registerHealthRoutes(
  app: FastifyInstance,
  db: DataSource,
  metrics: Metrics,
  opts: HealthOptions = {},
): void {
  app.get('/healthz', async () => ({ status: 'ok', ...opts.served }));

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
    return (opts.metricsText ?? (() => metrics.registry.metrics()))();
  });
}
