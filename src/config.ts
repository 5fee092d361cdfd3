import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  ConfigError,
  type Env,
  fail,
  type NodeEnv,
  type ParseContext,
  type Parsed,
  parseVariable,
  read,
  VARIABLES,
  type VariableName,
} from './config/schema.js';
import { type DevSecrets, DevSecretsError, loadOrCreateDevSecrets } from './dev-secrets.js';

export { ConfigError, NODE_ENVS, type NodeEnv } from './config/schema.js';

/**
 * The only reader of process.env. Every variable is declared once in src/config/schema.ts (its meaning,
 * default and parser) and parsed here, at start-up, through that table; the rules that span variables
 * live here. A bad value throws a ConfigError whose message is one line naming the variable.
 */

export type AuthConfig =
  | { kind: 'secret'; secret: Uint8Array; issuer: string | null; audience: string | null }
  | { kind: 'jwks'; jwksUrl: URL; issuer: string | null; audience: string | null }
  /** No auth configured outside production: the development secret (or a random one), and a printed admin token. */
  | { kind: 'dev'; secret: Uint8Array; issuer: null; audience: null };

/** Where a secret came from, for the start-up summary: the environment, or `.data/dev-secrets.json`. */
export type SecretSource = 'env' | 'dev-secrets';

/** What start-up reports of each secret; null: not configured. */
export interface SecretSources {
  /** `random`: test runs without a secret get a throwaway one, never written anywhere. */
  auth: SecretSource | 'jwks' | 'random';
  prove: SecretSource | null;
  vove: SecretSource | null;
  passbase: SecretSource | null;
}

export interface Config {
  port: number;
  host: string;
  nodeEnv: NodeEnv;
  production: boolean;
  logLevel: string;
  /** Worker processes (node:cluster, src/cluster.ts); 1: this process serves alone. */
  webConcurrency: number;
  /** How long a GraphQL response may be served from the cache at most; 0: no cache (docs/adr/0008). */
  graphqlCacheTtlMs: number;
  /** Delivery records (webhookDeliveries) older than this are deleted; null keeps them all. */
  deliveryRetentionDays: number | null;
  /** Unset: an embedded PostgreSQL under dataDir/pg. */
  databaseUrl: string | null;
  dataDir: string;
  spoolDir: string;
  webhooks: {
    proveSecret: string | null;
    voveSecret: string | null;
    passbaseKey: Buffer | null;
    passbaseAllowUnencrypted: boolean;
  };
  auth: AuthConfig;
  secretSources: SecretSources;
  prove: { clientId: string; clientSecret: string; env: string } | null;
}

export interface LoadConfigOptions {
  /**
   * Development secrets for whatever the environment leaves unset (src/dev-secrets.ts); called only in
   * development, and only when something is missing. Without it, development behaves as tests do.
   */
  devSecrets?: (dataDir: string) => DevSecrets;
}

/** Parses the environment; throws ConfigError naming the first bad variable. */
export function loadConfig(
  env: Env = process.env,
  cwd = process.cwd(),
  opts: LoadConfigOptions = {},
): Config {
  // First, and needing no context: the other parsers' context depends on it.
  const nodeEnv = VARIABLES.NODE_ENV.parse(read(env, 'NODE_ENV'), 'NODE_ENV');
  const production = nodeEnv === 'production';
  const dataDir = path.resolve(cwd, '.data');
  const ctx: ParseContext = { production, cwd, dataDir };
  /** A declared variable, parsed from the environment or from `raw` when given (a development secret). */
  const value = <K extends VariableName>(name: K, raw: string | null = read(env, name)) =>
    parseVariable(name, raw, ctx);
  // The order of these reads is the order in which bad values are reported.
  const port = value('PORT');
  const host = value('HOST');
  const databaseUrl = value('DATABASE_URL');
  const spoolDir = value('SPOOL_DIR');
  const logLevel = value('LOG_LEVEL');
  // Read at most once, and only when development leaves a secret unset.
  let dev: DevSecrets | null = null;
  const devSecret =
    nodeEnv === 'development' && opts.devSecrets
      ? (key: keyof DevSecrets) => {
          try {
            dev ??= (opts.devSecrets as (dataDir: string) => DevSecrets)(dataDir);
          } catch (err) {
            if (err instanceof DevSecretsError) throw new ConfigError(err.message);
            throw err;
          }
          return dev[key];
        }
      : null;
  /** A webhook secret from the environment, else the development one; and where it came from. */
  const webhookSecret = (name: VariableName, key: keyof DevSecrets): [string | null, SecretSource | null] => {
    const fromEnv = read(env, name);
    if (fromEnv !== null) return [fromEnv, 'env'];
    return devSecret ? [devSecret(key), 'dev-secrets'] : [null, null];
  };
  const [proveSecret, proveSource] = webhookSecret('PROVE_WEBHOOK_SECRET', 'proveWebhookSecret');
  const [voveRaw, voveSource] = webhookSecret('VOVE_WEBHOOK_SECRET', 'voveWebhookSecret');
  const [passbaseRaw, passbaseSource] = webhookSecret('PASSBASE_WEBHOOK_SECRET', 'passbaseWebhookSecret');
  const auth = parseAuth(env, value, production, devSecret && (() => devSecret('authJwtSecret')));
  if (production && databaseUrl === null) {
    fail(
      'DATABASE_URL',
      'NODE_ENV=production requires DATABASE_URL (the embedded PostgreSQL is for development)',
    );
  }
  return {
    port,
    host,
    nodeEnv,
    production,
    logLevel,
    webConcurrency: value('WEB_CONCURRENCY'),
    graphqlCacheTtlMs: value('GRAPHQL_CACHE_TTL_MS'),
    deliveryRetentionDays: value('WEBHOOK_DELIVERY_RETENTION_DAYS'),
    databaseUrl,
    dataDir,
    spoolDir,
    webhooks: {
      proveSecret: value('PROVE_WEBHOOK_SECRET', proveSecret),
      voveSecret: value('VOVE_WEBHOOK_SECRET', voveRaw),
      passbaseKey: value('PASSBASE_WEBHOOK_SECRET', passbaseRaw),
      passbaseAllowUnencrypted: value('PASSBASE_ALLOW_UNENCRYPTED'),
    },
    auth,
    secretSources: {
      auth:
        auth.kind === 'jwks' ? 'jwks' : auth.kind === 'secret' ? 'env' : devSecret ? 'dev-secrets' : 'random',
      prove: proveSource,
      vove: voveSource,
      passbase: passbaseSource,
    },
    prove: parseProve(value),
  };
}

type Value = <K extends VariableName>(name: K, raw?: string | null) => Parsed[K];

/** One of a JWT secret and a JWKS URL; production requires one, elsewhere a development secret stands in. */
function parseAuth(
  env: Env,
  value: Value,
  production: boolean,
  devSecret: (() => string) | null,
): AuthConfig {
  const secretRaw = read(env, 'AUTH_JWT_SECRET');
  const jwksUrl = value('AUTH_JWKS_URL');
  const issuer = value('AUTH_ISSUER');
  const audience = value('AUTH_AUDIENCE');
  // Checked before the secret's length: the two together is the mistake to name first.
  if (secretRaw !== null && jwksUrl !== null) {
    fail('AUTH_JWT_SECRET', 'set either AUTH_JWT_SECRET or AUTH_JWKS_URL, not both');
  }
  const secret = value('AUTH_JWT_SECRET', secretRaw);
  if (secret !== null) return { kind: 'secret', secret, issuer, audience };
  if (jwksUrl !== null) return { kind: 'jwks', jwksUrl, issuer, audience };
  if (production) {
    fail('AUTH_JWT_SECRET', 'NODE_ENV=production requires API auth: set AUTH_JWT_SECRET or AUTH_JWKS_URL');
  }
  const dev = devSecret ? new TextEncoder().encode(devSecret()) : new Uint8Array(randomBytes(32));
  return { kind: 'dev', secret: dev, issuer: null, audience: null };
}

/** Both client credentials or neither; PROVE_ENV counts only with them. */
function parseProve(value: Value): Config['prove'] {
  const clientId = value('PROVE_CLIENT_ID');
  const clientSecret = value('PROVE_CLIENT_SECRET');
  if (clientId === null && clientSecret === null) return null;
  if (clientId === null) fail('PROVE_CLIENT_ID', 'is required when PROVE_CLIENT_SECRET is set');
  if (clientSecret === null) fail('PROVE_CLIENT_SECRET', 'is required when PROVE_CLIENT_ID is set');
  return { clientId, clientSecret, env: value('PROVE_ENV') };
}

/**
 * The configuration of this process, as `npm start` and every script read it: a `.env` file in the
 * working directory when there is one (variables already in the environment win), then the
 * environment, with development secrets for whatever development leaves unset.
 */
export function loadProcessConfig(cwd = process.cwd()): Config {
  const envFile = path.join(cwd, '.env');
  if (existsSync(envFile)) {
    try {
      process.loadEnvFile(envFile);
    } catch (err) {
      throw new ConfigError(`${envFile}: cannot be read (${(err as Error).message})`);
    }
  }
  return loadConfig(process.env, cwd, { devSecrets: loadOrCreateDevSecrets });
}
