import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

/**
 * Every metric of one server, on a registry of its own (tests run two servers in one process).
 * Names follow Prometheus conventions: base units, `_total` for counters.
 */
export function createMetrics(poolStats: () => PoolStats) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const durationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
  const metrics = {
    registry,
    httpRequests: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP requests by method, route and status code',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: durationBuckets,
      registers: [registry],
    }),
    graphqlOperations: new Histogram({
      name: 'graphql_operation_duration_seconds',
      help: 'GraphQL operations over HTTP by operation type and outcome',
      labelNames: ['operation', 'outcome'] as const,
      buckets: durationBuckets,
      registers: [registry],
    }),
    webhookDeliveries: new Counter({
      name: 'webhook_deliveries_total',
      help: 'Webhook deliveries by provider and outcome (accepted, spooled, test, or the error code)',
      labelNames: ['provider', 'outcome'] as const,
      registers: [registry],
    }),
    webhookEvents: new Counter({
      name: 'webhook_events_total',
      help: 'Webhook notifications by provider and result (accepted, duplicate, rejected)',
      labelNames: ['provider', 'result'] as const,
      registers: [registry],
    }),
    webhookSigningKeys: new Counter({
      name: 'webhook_signing_key_matches_total',
      help: 'Verified deliveries by provider and the key derived from its secret that matched (Prove: utf8, base64)',
      labelNames: ['provider', 'key'] as const,
      registers: [registry],
    }),
    webhookCommitBatch: new Histogram({
      name: 'webhook_commit_batch_deliveries',
      help: 'Deliveries committed together in one transaction (src/ingest/commit-queue.ts)',
      buckets: [1, 2, 5, 10, 20, 50, 100],
      registers: [registry],
    }),
    httpConnectionsDropped: new Counter({
      name: 'http_connections_dropped_total',
      help: 'Connections closed on arrival because the replica held MAX_CONNECTIONS sockets (src/http/timeouts.ts)',
      registers: [registry],
    }),
    wsConnections: new Gauge({
      name: 'ws_connections',
      help: 'Open WebSocket connections on this replica',
      registers: [registry],
    }),
    feedSubscriptions: new Gauge({
      name: 'feed_subscriptions',
      help: 'Active identityEvents subscriptions on this replica',
      registers: [registry],
    }),
    feedFannedOut: new Counter({
      name: 'feed_events_fanned_out_total',
      help: 'Events handed to subscribers (one per matching subscription)',
      registers: [registry],
    }),
    feedLag: new Histogram({
      name: 'feed_lag_seconds',
      help: 'Time from an event being stored to the feed handing it to subscribers',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    feedOverflows: new Counter({
      name: 'feed_subscriber_overflows_total',
      help: 'Sockets closed because a subscriber fell too far behind (it resumes from its cursor)',
      registers: [registry],
    }),
    spoolSetAside: new Counter({
      name: 'webhook_spool_set_aside_total',
      help: 'Spooled deliveries moved to failed/ instead of loaded: refused by the database, unreadable, or of an unknown format',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    rejectedNotRecorded: new Counter({
      name: 'webhook_rejections_unrecorded_total',
      help: 'Rejected deliveries not written to the database because the per-provider cap was reached',
      labelNames: ['provider'] as const,
      registers: [registry],
    }),
  };
  new Gauge({
    name: 'db_pool_connections',
    help: 'Database pool connections by state',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const s = poolStats();
      this.set({ state: 'total' }, s.total);
      this.set({ state: 'idle' }, s.idle);
      this.set({ state: 'waiting' }, s.waiting);
    },
  });
  return metrics;
}

export type Metrics = ReturnType<typeof createMetrics>;
