import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { type DevSecrets, DevSecretsError, loadOrCreateDevSecrets } from './dev-secrets.js';

/**
 * The only reader of process.env. Every variable of docs/api.md (Configuration) is parsed here once,
 * at start-up; a bad value throws a ConfigError whose message is one line naming the variable.
 */

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export type AuthConfig =
  | { kind: 'secret'; secret: Uint8Array; issuer: string | null; audience: string | null }
  | { kind: 'jwks'; jwksUrl: URL; issuer: string | null; audience: string | null }
  /** No auth configured outside production: the development secret (or a random one), and a printed admin token. */
  | { kind: 'dev'; secret: Uint8Array; issuer: null; audience: null };

export const NODE_ENVS = ['development', 'production', 'test'] as const;
export type NodeEnv = (typeof NODE_ENVS)[number];

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

type Env = Readonly<Record<string, string | undefined>>;

function fail(name: string, problem: string): never {
  throw new ConfigError(`${name}: ${problem}`);
}

/** Empty strings count as unset, as shells and compose files produce them. */
function read(env: Env, name: string): string | null {
  const v = env[name];
  return v === undefined || v.trim() === '' ? null : v;
}

function parsePort(env: Env): number {
  const raw = read(env, 'PORT');
  if (raw === null) return 4000;
  if (!/^\d{1,5}$/.test(raw.trim()) || Number(raw) > 65535) {
    fail('PORT', `must be an integer from 0 to 65535, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

/** A whole number of `unit` within [min, max], or null when unset. */
function parseWhole(env: Env, name: string, unit: string, min: number, max: number): number | null {
  const raw = read(env, name);
  if (raw === null) return null;
  if (!/^\d{1,9}$/.test(raw.trim()) || Number(raw) < min || Number(raw) > max) {
    fail(name, `must be a whole number of ${unit} from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

function parseBool(env: Env, name: string): boolean {
  const raw = read(env, name);
  if (raw === null) return false;
  const v = raw.trim().toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  return fail(name, `must be true or false, got ${JSON.stringify(raw)}`);
}

function parseUrl(env: Env, name: string, protocols: readonly string[]): URL | null {
  const raw = read(env, name);
  if (raw === null) return null;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    // The value may hold a password: name the variable, never echo it.
    return fail(name, 'is not a valid URL');
  }
  if (!protocols.includes(url.protocol)) {
    fail(
      name,
      `must use ${protocols.map((p) => p.replace(':', '')).join(' or ')}, got ${url.protocol.replace(':', '')}`,
    );
  }
  return url;
}

/**
 * Passbase documents the key as a 32-byte string used as is; dashboards and secret stores also hand
 * keys out as 64 hex digits or base64, so those encodings of 32 bytes are accepted too.
 */
function parsePassbaseKey(raw: string | null): Buffer | null {
  if (raw === null) return null;
  const utf8 = Buffer.from(raw, 'utf8');
  if (utf8.length === 32) return utf8;
  if (/^[0-9a-fA-F]{64}$/.test(raw)) return Buffer.from(raw, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(raw)) {
    const b = Buffer.from(raw, 'base64');
    if (b.length === 32) return b;
  }
  return fail(
    'PASSBASE_WEBHOOK_SECRET',
    `must be a 32-byte key (32 characters, 64 hex digits or base64), got ${utf8.length} bytes`,
  );
}

function parseVoveSecret(raw: string | null): string | null {
  if (raw === null) return null;
  const body = raw.trim().replace(/^whsec_/, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body) || Buffer.from(body, 'base64').length < 16) {
    fail('VOVE_WEBHOOK_SECRET', 'must be a Svix secret of the form whsec_<base64>');
  }
  return raw.trim();
}

function parseAuth(env: Env, production: boolean, devSecret: (() => string) | null): AuthConfig {
  const secret = read(env, 'AUTH_JWT_SECRET');
  const jwksUrl = parseUrl(env, 'AUTH_JWKS_URL', ['https:', 'http:']);
  const issuer = read(env, 'AUTH_ISSUER');
  const audience = read(env, 'AUTH_AUDIENCE');
  if (secret !== null && jwksUrl !== null) {
    fail('AUTH_JWT_SECRET', 'set either AUTH_JWT_SECRET or AUTH_JWKS_URL, not both');
  }
  if (secret !== null) {
    const bytes = new TextEncoder().encode(secret);
    // RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
    if (bytes.length < 32) fail('AUTH_JWT_SECRET', `must be at least 32 bytes, got ${bytes.length}`);
    return { kind: 'secret', secret: bytes, issuer, audience };
  }
  if (jwksUrl !== null) return { kind: 'jwks', jwksUrl, issuer, audience };
  if (production) {
    fail('AUTH_JWT_SECRET', 'NODE_ENV=production requires API auth: set AUTH_JWT_SECRET or AUTH_JWKS_URL');
  }
  const dev = devSecret ? new TextEncoder().encode(devSecret()) : new Uint8Array(randomBytes(32));
  return { kind: 'dev', secret: dev, issuer: null, audience: null };
}

function parseProve(env: Env): Config['prove'] {
  const clientId = read(env, 'PROVE_CLIENT_ID');
  const clientSecret = read(env, 'PROVE_CLIENT_SECRET');
  if (clientId === null && clientSecret === null) return null;
  if (clientId === null) fail('PROVE_CLIENT_ID', 'is required when PROVE_CLIENT_SECRET is set');
  if (clientSecret === null) fail('PROVE_CLIENT_SECRET', 'is required when PROVE_CLIENT_ID is set');
  const proveEnv = (read(env, 'PROVE_ENV') ?? 'uat-us').trim();
  if (!['uat-us', 'prod-us', 'uat-eu', 'prod-eu'].includes(proveEnv)) {
    parseUrl(env, 'PROVE_ENV', ['https:', 'http:']);
  }
  return { clientId, clientSecret, env: proveEnv };
}

function parseNodeEnv(env: Env): NodeEnv {
  const raw = (read(env, 'NODE_ENV') ?? 'development').trim();
  if (!(NODE_ENVS as readonly string[]).includes(raw)) {
    fail('NODE_ENV', `must be one of ${NODE_ENVS.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  return raw as NodeEnv;
}

/** Parses the environment; throws ConfigError naming the first bad variable. */
export function loadConfig(
  env: Env = process.env,
  cwd = process.cwd(),
  opts: LoadConfigOptions = {},
): Config {
  const nodeEnv = parseNodeEnv(env);
  const production = nodeEnv === 'production';
  const port = parsePort(env);
  const host = read(env, 'HOST')?.trim() ?? (production ? '0.0.0.0' : '127.0.0.1');
  const databaseUrl = parseUrl(env, 'DATABASE_URL', ['postgres:', 'postgresql:']);
  const dataDir = path.resolve(cwd, '.data');
  const spoolDir = path.resolve(cwd, read(env, 'SPOOL_DIR') ?? path.join(dataDir, 'spool'));
  const logLevel = read(env, 'LOG_LEVEL') ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    fail(
      'LOG_LEVEL',
      `must be one of fatal, error, warn, info, debug, trace, silent, got ${JSON.stringify(logLevel)}`,
    );
  }
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
  const webhookSecret = (name: string, key: keyof DevSecrets): [string | null, SecretSource | null] => {
    const fromEnv = read(env, name);
    if (fromEnv !== null) return [fromEnv, 'env'];
    return devSecret ? [devSecret(key), 'dev-secrets'] : [null, null];
  };
  const [proveSecret, proveSource] = webhookSecret('PROVE_WEBHOOK_SECRET', 'proveWebhookSecret');
  const [voveRaw, voveSource] = webhookSecret('VOVE_WEBHOOK_SECRET', 'voveWebhookSecret');
  const [passbaseRaw, passbaseSource] = webhookSecret('PASSBASE_WEBHOOK_SECRET', 'passbaseWebhookSecret');
  const auth = parseAuth(env, production, devSecret && (() => devSecret('authJwtSecret')));
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
    graphqlCacheTtlMs: parseWhole(env, 'GRAPHQL_CACHE_TTL_MS', 'milliseconds', 0, 60_000) ?? 1000,
    deliveryRetentionDays: parseWhole(env, 'WEBHOOK_DELIVERY_RETENTION_DAYS', 'days', 1, 36_500),
    databaseUrl: databaseUrl === null ? null : databaseUrl.toString(),
    dataDir,
    spoolDir,
    webhooks: {
      proveSecret,
      voveSecret: parseVoveSecret(voveRaw),
      passbaseKey: parsePassbaseKey(passbaseRaw),
      passbaseAllowUnencrypted: parseBool(env, 'PASSBASE_ALLOW_UNENCRYPTED'),
    },
    auth,
    secretSources: {
      auth:
        auth.kind === 'jwks' ? 'jwks' : auth.kind === 'secret' ? 'env' : devSecret ? 'dev-secrets' : 'random',
      prove: proveSource,
      vove: voveSource,
      passbase: passbaseSource,
    },
    prove: parseProve(env),
  };
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
