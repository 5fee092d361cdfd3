import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { fastifyApolloHandler } from '@as-integrations/fastify';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import { createTokenVerifier, signToken } from './auth/tokens.js';
import type { Config } from './config.js';
import { createStatementPool } from './db/data-source.js';
import { type Database, type DatabaseInfo, openDatabase } from './db/database.js';
import { createEnrollmentService } from './enrollment/enrollment.service.js';
import { proveBaseUrl, proveGateway } from './enrollment/prove-client.js';
import type { ProveGateway } from './enrollment/prove-gateway.js';
import { sandboxGateway } from './enrollment/sandbox-gateway.js';
import { ChangeFeed } from './feed/feed.js';
import { createChangeNotifier } from './feed/notifier.js';
import { createApollo } from './graphql/apollo.js';
import { httpContext, type Services } from './graphql/context.js';
import { createResponseCache } from './graphql/response-cache.js';
import { createSchema } from './graphql/schema.js';
import { createWsServer } from './graphql/ws.js';
import { WS_LIMITS, type WsLimits } from './graphql/ws-limits.js';
import { DRAIN_OPTIONS, registerDrain } from './http/drain.js';
import { registerExplorer } from './http/explorer.js';
import { registerHealthRoutes } from './http/health.js';
import { FASTIFY_TIMEOUTS, LISTEN_BACKLOG, MAX_CONNECTIONS } from './http/timeouts.js';
import { createCommitQueue, INGEST_BATCHING } from './ingest/commit-queue.js';
import { createIngestService } from './ingest/ingest.service.js';
import { findRefusals } from './ingest/item-by-item.js';
import { createProviders } from './ingest/providers/index.js';
import { createRejectionRecorder } from './ingest/rejections.js';
import { startRetention } from './ingest/retention.js';
import { Spool } from './ingest/spool.js';
import { startSpoolLoader } from './ingest/spool-loader.js';
import { storeBatch } from './ingest/store.js';
import { registerWebhookRoutes } from './ingest/webhook.routes.js';
import { Lifecycle } from './lifecycle.js';
import { createLogger } from './observability/logger.js';
import { createMetrics, type PoolStats } from './observability/metrics.js';

/** Webhook bodies are capped at 1 MiB (contract: larger answers 413). */
export const BODY_LIMIT = 1024 * 1024;

export interface App {
  /** http://host:port */
  url: string;
  port: number;
  db: DataSource;
  log: Logger;
  /** Set when no auth is configured outside production: an admin token with every scope. */
  devToken: string | null;
  /** The PostgreSQL in use, for the start-up summary. */
  database: DatabaseInfo;
  fastify: FastifyInstance;
  /**
   * Graceful: stop accepting, close sockets with 1001, finish in-flight requests, flush, close the pool,
   * stop PostgreSQL (START_STEPS, in reverse).
   */
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Use this database instead of opening one from the config (tests share one across servers). */
  database?: Database;
  /** Live events buffered per subscription before a subscriber counts as too far behind. */
  subscriptionBuffer?: number;
  /** The clock webhook deliveries are received by; tests fix it to keep a minute's rejection budget whole. */
  now?: () => Date;
  /** How long a webhook's commit may take before the delivery is spooled instead (tests shorten it). */
  commitDeadlineMs?: number;
  /** WebSocket limits other than WS_LIMITS (tests lower them). */
  wsLimits?: Partial<WsLimits>;
  /** Concurrent sockets before new ones are dropped (MAX_CONNECTIONS by default; tests lower it). */
  maxConnections?: number;
  /**
   * Fail start-up right after this step, as if the next one had thrown: most steps have no fault a test
   * can cause for real, and each must be shown to be undone (test/api/startup-failure.test.ts).
   */
  failAfter?: StartStep;
  /**
   * This server is worker `index` of a cluster (src/cluster.ts): its primary migrated the database, and
   * the pool is this worker's share. /healthz names the worker; /metrics answers what `metrics` makes
   * of this server's registry (every worker's metrics).
   */
  worker?: { index: number; poolSize: number; metrics?: (own: Registry) => () => Promise<string> };
}

function poolStatsOf(db: DataSource): () => PoolStats {
  return () => {
    // TypeORM's postgres driver keeps the node-postgres Pool as `master`.
    const pool = (
      db.driver as unknown as { master?: { totalCount: number; idleCount: number; waitingCount: number } }
    ).master;
    return { total: pool?.totalCount ?? 0, idle: pool?.idleCount ?? 0, waiting: pool?.waitingCount ?? 0 };
  };
}

/**
 * What startServer starts, in order; each is stopped in reverse, on close() and when a later step fails.
 * Fastify (`http`) comes after everything its routes use, so requests finish before any of that stops;
 * `listen` is last, so nothing is served before everything is up.
 */
export const START_STEPS = [
  'database', // the pool, and the embedded PostgreSQL when this server started it
  'commit-pool', // the group commit's own connections (ends them)
  'retention', // deletes expired token ids and old delivery records; needs only the pool
  'spool', // its directory: no stop, but start-up fails here when it cannot be made
  'feed', // the change feed's LISTEN connection and poll timer
  'notifier', // stopping waits for the NOTIFY in flight
  'spool-loader',
  'rejections', // stopping waits for the rejections being recorded
  'http', // fastify: stopping waits for in-flight requests
  'apollo',
  'ws', // graphql-ws on the HTTP server's upgrades
  'listen',
] as const;
export type StartStep = (typeof START_STEPS)[number];

/** Composition root: builds and wires everything, listens, and returns the running app. */
export async function startServer(config: Config, opts: StartOptions = {}): Promise<App> {
  const log = opts.logger ?? createLogger(config.logLevel);
  const life = new Lifecycle(START_STEPS, {
    failAfter: opts.failAfter,
    onStopError: (step, err) => log.error({ err, step }, 'could not stop a part of the server'),
  });
  try {
    return await compose(config, opts, log, life);
  } catch (err) {
    await life.close().catch(() => undefined); // each failed stop is logged by onStopError
    throw err;
  }
}

/** Starts each of START_STEPS on `life`, wiring the rest between them. */
async function compose(
  config: Config,
  opts: StartOptions,
  log: Logger,
  life: Lifecycle<StartStep>,
): Promise<App> {
  const database = await life.start(
    'database',
    () =>
      opts.database ??
      openDatabase({
        databaseUrl: config.databaseUrl,
        dataDir: config.dataDir,
        log,
        ...(opts.worker ? { poolSize: opts.worker.poolSize, migrate: false } : {}),
      }),
    // A database given by the caller is the caller's to close.
    (d) => (opts.database ? undefined : d.close()),
  );
  const db = database.dataSource;
  const commitPool = await life.start(
    'commit-pool',
    async () =>
      createStatementPool({
        url: database.url,
        size: INGEST_BATCHING.concurrency,
        applicationName: 'identity-monitor-commits',
        onError: (err) => log.warn({ err }, 'an idle commit connection failed; the pool replaces it'),
      }),
    (p) => p.end(),
  );
  await life.start(
    'retention',
    () => startRetention({ db, deliveryRetentionDays: config.deliveryRetentionDays, log }),
    (r) => r.stop(),
  );
  const metrics = createMetrics(poolStatsOf(db));
  const verify = createTokenVerifier(config.auth);
  const devToken = config.auth.kind === 'dev' ? await signToken(config.auth.secret) : null;
  const schema = await createSchema();

  const spool = new Spool(config.spoolDir, log, (reason) => metrics.spoolSetAside.inc({ reason }));
  await life.start('spool', () => spool.init());
  // Repeated read queries are answered from memory until events are committed here, another replica
  // NOTIFYs a commit, or the feed reads new events (docs/adr/0008-response-cache.md).
  const responseCache =
    config.graphqlCacheTtlMs > 0
      ? createResponseCache({ ttlMs: config.graphqlCacheTtlMs, registry: metrics.registry })
      : null;
  // Tells this replica's NOTIFYs from others' (src/feed/notifier.ts).
  const replicaId = randomUUID();
  const feed = new ChangeFeed({
    db,
    connectionString: database.url,
    log,
    metrics,
    ...(opts.subscriptionBuffer ? { bufferLimit: opts.subscriptionBuffer } : {}),
    replicaId,
    ...(responseCache ? { onChange: (change) => responseCache.invalidate(change) } : {}),
  });
  await life.start(
    'feed',
    () => feed.start(),
    () => feed.stop(),
  );
  const notifier = await life.start(
    'notifier',
    () =>
      createChangeNotifier(db, log, {
        replicaId,
        onLocalCommit: (change) => responseCache?.invalidate(change),
      }),
    (n) => n.flush(),
  );
  // Group commit: deliveries that arrive while earlier ones are being written go in one transaction.
  // Nothing of it to stop: each write is awaited by its caller, and the pool's end by a late one.
  const commits = createCommitQueue({
    // Its own connections: in the shared pool a commit would wait behind the reads queued there.
    write: (records) => storeBatch(commitPool, records),
    ...INGEST_BATCHING,
    onBatch: (n) => metrics.webhookCommitBatch.observe(n),
  });
  const spoolLoader = await life.start(
    'spool-loader',
    () =>
      startSpoolLoader({
        spool,
        store: commits.store,
        findRefusals: (record) => findRefusals(db, record),
        log,
        onLoaded: (_r, result) => {
          if (!result.replayed && result.accepted > 0) notifier.poke(result.changed);
        },
      }),
    (l) => l.stop(),
  );
  void spoolLoader.kick(); // deliveries spooled before a restart load now
  const rejections = await life.start(
    'rejections',
    () => createRejectionRecorder(db, metrics, log),
    (r) => r.settled(),
  );
  const ingest = createIngestService({
    store: commits.store,
    spool,
    metrics,
    log,
    recordRejection: rejections.record,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.commitDeadlineMs ? { commitDeadlineMs: opts.commitDeadlineMs } : {}),
    onSpooled: () => void spoolLoader.kick(),
    onCommitted: (change) => notifier.poke(change),
  });
  // With Prove credentials, enrollment is forwarded to Prove; without, the local sandbox (contract, Enrollment).
  const gateway: ProveGateway = config.prove
    ? proveGateway({
        clientId: config.prove.clientId,
        clientSecret: config.prove.clientSecret,
        baseUrl: proveBaseUrl(config.prove.env),
        logger: log,
      })
    : sandboxGateway();
  const enrollment = createEnrollmentService({ db, gateway, notifier, log });
  const services: Services = { db, notifier, feed, gateway, enrollment };

  // Fastify's own logger is a child, so its level can be raised alone while it listens (listen below).
  const fastifyLog = log.child({});
  // After everything its routes use: stopping it (in-flight requests finished) comes before they stop.
  const app = await life.start(
    'http',
    () =>
      Fastify({
        // pino 10's Logger and fastify's pino-9-based FastifyBaseLogger differ only in typings.
        loggerInstance: fastifyLog as unknown as FastifyBaseLogger,
        bodyLimit: BODY_LIMIT,
        // No line per request: at thousands of webhooks a second, metrics tell more for less.
        logController: new LogController({ disableRequestLogging: true }),
        requestIdHeader: 'x-request-id',
        genReqId: () => randomUUID(),
        ...DRAIN_OPTIONS,
        // Slow and idle clients are cut by the limits of src/http/timeouts.ts (stated in the README).
        ...FASTIFY_TIMEOUTS,
      }),
    // Stops listening and waits for in-flight requests (done already when Apollo's stop closed it).
    (app) => app.close(),
  );
  app.server.maxConnections = opts.maxConnections ?? MAX_CONNECTIONS;
  app.server.on('drop', () => metrics.httpConnectionsDropped.inc());
  const drain = registerDrain(app);

  app.addHook('onResponse', async (req, reply) => {
    metrics.httpRequests.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  registerHealthRoutes(
    app,
    db,
    metrics,
    opts.worker
      ? {
          served: { worker: opts.worker.index, pid: process.pid },
          ...(opts.worker.metrics ? { metricsText: opts.worker.metrics(metrics.registry) } : {}),
        }
      : {},
  );
  if (!config.production) await registerExplorer(app, { devToken });
  registerWebhookRoutes(app, { providers: createProviders(config.webhooks), ingest, bodyLimit: BODY_LIMIT });

  const apollo = createApollo({ schema, app, log, metrics, production: config.production, responseCache });
  await life.start(
    'apollo',
    () => apollo.start(),
    // Its drain plugin closes fastify first (in-flight requests finish), then Apollo stops.
    () => apollo.stop(),
  );
  app.route({
    url: '/graphql',
    method: ['GET', 'POST', 'OPTIONS'],
    handler: fastifyApolloHandler(apollo, { context: httpContext(services, verify) }),
  });

  const ws = createWsServer({
    schema,
    services,
    verify,
    log,
    metrics,
    production: config.production,
    limits: { ...WS_LIMITS, ...opts.wsLimits },
  });
  await life.start(
    'ws',
    () => app.server.on('upgrade', ws.handleUpgrade),
    () => ws.close(), // every socket told 1001 before fastify waits for connections to end
  );

  await life.start(
    'listen',
    () => listen(app, fastifyLog, config),
    // The first of close(): only webhooks are served from now on; the steps below close the sockets.
    () => drain.begin(),
  );
  life.started();

  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return {
    url: `http://${host}:${port}`,
    port,
    db,
    log,
    devToken,
    database: database.info,
    fastify: app,
    close: () => life.close(),
  };
}

async function listen(app: FastifyInstance, fastifyLog: Logger, config: Config): Promise<void> {
  // Fastify logs "Server listening at …" once per address it binds, with no option to turn it off;
  // main.ts logs the one 'server listening' line, with the URL. Warnings and errors still pass.
  const listenLevel = fastifyLog.level;
  if (fastifyLog.levelVal < fastifyLog.levels.values.warn!) fastifyLog.level = 'warn';
  try {
    await app.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG });
  } catch (err) {
    // One line naming the variables (contract, Configuration): "getaddrinfo ENOTFOUND x" alone does not.
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`cannot listen on HOST=${config.host} PORT=${config.port}: ${reason}`, { cause: err });
  } finally {
    fastifyLog.level = listenLevel;
  }
}
