import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { fastifyApolloHandler } from '@as-integrations/fastify';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { bearerToken, createTokenVerifier, signToken } from './auth/tokens.js';
import type { Config } from './config.js';
import { type Database, type DatabaseInfo, openDatabase } from './db/database.js';
import { createEnrollmentService } from './enrollment/enrollment.service.js';
import { proveBaseUrl, proveGateway } from './enrollment/prove-client.js';
import type { ProveGateway } from './enrollment/prove-gateway.js';
import { sandboxGateway } from './enrollment/sandbox-gateway.js';
import { ChangeFeed } from './feed/feed.js';
import { createChangeNotifier } from './feed/notifier.js';
import { createApollo } from './graphql/apollo.js';
import { type GraphQLContext, makeContext, type Services } from './graphql/context.js';
import { createResponseCache } from './graphql/response-cache.js';
import { createSchema } from './graphql/schema.js';
import { createWsServer } from './graphql/ws.js';
import { WS_LIMITS, type WsLimits } from './graphql/ws-limits.js';
import { registerExplorer } from './http/explorer.js';
import { registerHealthRoutes } from './http/health.js';
import { FASTIFY_TIMEOUTS, LISTEN_BACKLOG, MAX_CONNECTIONS } from './http/timeouts.js';
import { createCommitQueue, INGEST_BATCHING } from './ingest/commit-queue.js';
import { createIngestService } from './ingest/ingest.service.js';
import { findRefusals } from './ingest/item-by-item.js';
import { createProviders } from './ingest/providers/index.js';
import { createRejectionRecorder } from './ingest/rejections.js';
import { Spool } from './ingest/spool.js';
import { startSpoolLoader } from './ingest/spool-loader.js';
import { purgeExpiredTokenIds, purgeOldDeliveries, storeBatch } from './ingest/store.js';
import { registerWebhookRoutes } from './ingest/webhook.routes.js';
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
  /** Graceful: stop accepting, close sockets with 1001, finish in-flight requests, close the pool, stop PostgreSQL. */
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

/** Composition root: builds and wires everything, listens, and returns the running app. */
export async function startServer(config: Config, opts: StartOptions = {}): Promise<App> {
  const log = opts.logger ?? createLogger(config.logLevel);
  const database =
    opts.database ?? (await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, log }));
  const db = database.dataSource;
  const metrics = createMetrics(poolStatsOf(db));
  const verify = createTokenVerifier(config.auth);
  const devToken = config.auth.kind === 'dev' ? await signToken(config.auth.secret) : null;
  const schema = await createSchema();

  // Fastify's own logger is a child, so its level can be raised alone while it listens (below).
  const fastifyLog = log.child({});
  const app = Fastify({
    // pino 10's Logger and fastify's pino-9-based FastifyBaseLogger differ only in typings.
    loggerInstance: fastifyLog as unknown as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT,
    // No line per request: at thousands of webhooks a second, metrics tell more for less.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // While it drains, fastify answers every response with `Connection: close`; the hook below decides
    // which requests are still served (fastify's own 503 would refuse webhooks and not in the contract's words).
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // Slow and idle clients are cut by the limits of src/http/timeouts.ts (stated in the README).
    ...FASTIFY_TIMEOUTS,
  });
  app.server.maxConnections = opts.maxConnections ?? MAX_CONNECTIONS;
  app.server.on('drop', () => metrics.httpConnectionsDropped.inc());

  // Draining: a webhook that reaches us on a connection still open is verified and committed as ever
  // (PostgreSQL is closed only once in-flight requests are done): Prove never retries, so refusing it
  // would lose it. Anything else is answered 503, as the contract words it, and the client goes elsewhere.
  let draining = false;
  app.addHook('onRequest', async (req, reply) => {
    if (draining && !req.url.startsWith('/webhooks/')) return reply.code(503).send({ error: 'unavailable' });
  });

  app.addHook('onResponse', async (req, reply) => {
    metrics.httpRequests.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  registerHealthRoutes(app, db, metrics);
  if (!config.production) await registerExplorer(app, { devToken });

  const spool = new Spool(config.spoolDir, log, (reason) => metrics.spoolSetAside.inc({ reason }));
  await spool.init();
  // Repeated read queries are answered from memory until events are committed here, another replica
  // NOTIFYs a commit, or the feed reads new events (docs/adr/0008-response-cache.md).
  const responseCache =
    config.graphqlCacheTtlMs > 0
      ? createResponseCache({ ttlMs: config.graphqlCacheTtlMs, registry: metrics.registry })
      : null;
  // Tells this replica's NOTIFYs from others' (src/feed/notifier.ts).
  const replicaId = randomUUID();
  const notifier = createChangeNotifier(db, log, {
    replicaId,
    onLocalCommit: () => responseCache?.invalidate(),
  });
  // Group commit: deliveries that arrive while earlier ones are being written go in one transaction.
  const commits = createCommitQueue({
    write: (records) => storeBatch(db, records),
    ...INGEST_BATCHING,
    onBatch: (n) => metrics.webhookCommitBatch.observe(n),
  });
  const spoolLoader = startSpoolLoader({
    spool,
    store: commits.store,
    findRefusals: (record) => findRefusals(db, record),
    log,
    onLoaded: (_r, result) => {
      if (!result.replayed && result.accepted > 0) notifier.poke();
    },
  });
  void spoolLoader.kick(); // deliveries spooled before a restart load now
  const rejections = createRejectionRecorder(db, metrics, log);
  const ingest = createIngestService({
    store: commits.store,
    spool,
    metrics,
    log,
    recordRejection: rejections.record,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.commitDeadlineMs ? { commitDeadlineMs: opts.commitDeadlineMs } : {}),
    onSpooled: () => void spoolLoader.kick(),
    onCommitted: () => notifier.poke(),
  });
  const feed = new ChangeFeed({
    db,
    connectionString: database.url,
    log,
    metrics,
    ...(opts.subscriptionBuffer ? { bufferLimit: opts.subscriptionBuffer } : {}),
    replicaId,
    ...(responseCache ? { onChange: () => responseCache.invalidate() } : {}),
  });
  await feed.start();
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
  registerWebhookRoutes(app, { providers: createProviders(config.webhooks), ingest, bodyLimit: BODY_LIMIT });
  let purgingDeliveries = false;
  const purge = setInterval(() => {
    purgeExpiredTokenIds(db).catch((err: unknown) => log.warn({ err }, 'could not purge expired token ids'));
    const days = config.deliveryRetentionDays;
    // A first purge of a large table may outlast the interval: never two at once.
    if (days === null || purgingDeliveries) return;
    purgingDeliveries = true;
    purgeOldDeliveries(db, days)
      .then(
        (n) => n > 0 && log.info({ deleted: n, days }, 'purged old delivery records'),
        (err: unknown) => log.warn({ err }, 'could not purge old delivery records'),
      )
      .finally(() => {
        purgingDeliveries = false;
      });
  }, 5 * 60_000);
  purge.unref();

  const apollo = createApollo({ schema, app, log, metrics, production: config.production, responseCache });
  await apollo.start();
  app.route({
    url: '/graphql',
    method: ['GET', 'POST', 'OPTIONS'],
    handler: fastifyApolloHandler(apollo, {
      async context(req): Promise<GraphQLContext> {
        const header = req.headers.authorization;
        if (header === undefined) return makeContext({ principal: null, requestId: req.id, services });
        const token = bearerToken(header);
        try {
          if (!token) throw new Error('not a bearer token');
          return makeContext({ principal: await verify(token), requestId: req.id, services });
        } catch (err) {
          throw new GraphQLError(`invalid bearer token: ${(err as Error).message}`, {
            extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
          });
        }
      },
    }),
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
  app.server.on('upgrade', ws.handleUpgrade);

  // Fastify logs "Server listening at …" once per address it binds, with no option to turn it off;
  // main.ts logs the one 'server listening' line, with the URL. Warnings and errors still pass.
  const listenLevel = fastifyLog.level;
  if (fastifyLog.levelVal < fastifyLog.levels.values.warn!) fastifyLog.level = 'warn';
  try {
    await app.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG });
  } catch (err) {
    // The port is taken, or the host cannot be bound: undo everything started so far.
    clearInterval(purge);
    await ws.close();
    await apollo.stop();
    await spoolLoader.stop();
    await feed.stop();
    if (!opts.database) await database.close();
    // One line naming the variables (contract, Configuration): "getaddrinfo ENOTFOUND x" alone does not.
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`cannot listen on HOST=${config.host} PORT=${config.port}: ${reason}`, { cause: err });
  } finally {
    fastifyLog.level = listenLevel;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;

  let closing: Promise<void> | null = null;
  return {
    url: `http://${host}:${port}`,
    port,
    db,
    log,
    devToken,
    database: database.info,
    fastify: app,
    close() {
      closing ??= (async () => {
        clearInterval(purge);
        draining = true;
        await ws.close();
        await app.close(); // waits for in-flight requests; stops Apollo through its drain plugin
        await rejections.settled();
        await spoolLoader.stop();
        await notifier.flush();
        await feed.stop();
        if (!opts.database) await database.close();
      })();
      return closing;
    },
  };
}
