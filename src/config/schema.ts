import os from 'node:os';
import path from 'node:path';

/**
 * Every environment variable the server reads, declared once: what it means, what applies when it is
 * unset, the value `.env.example` carries, whether it is a secret, and how it is parsed. `loadConfig`
 * (src/config.ts) reads through this table only; README.md, docs/api.md and `.env.example` are
 * generated from it (`npm run docs:config`, src/config/docs.ts) and a test keeps them equal.
 *
 * A table of our own rather than envalid or env-schema: the rules that span variables (both Prove
 * credentials or neither, what production requires, development secrets) and the exact one-line error
 * messages that never echo a secret would have to be rebuilt around either library anyway.
 */

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const NODE_ENVS = ['development', 'production', 'test'] as const;
export type NodeEnv = (typeof NODE_ENVS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const PROVE_REGIONS = ['uat-us', 'prod-us', 'uat-eu', 'prod-eu'] as const;

/** What a parser may depend on besides its own value. */
export interface ParseContext {
  production: boolean;
  cwd: string;
  /** `<cwd>/.data`: development secrets, the embedded PostgreSQL, the spool by default. */
  dataDir: string;
}

/** Headings of `.env.example`, in order; a variable's group says where it is listed. */
export const GROUPS = [
  'Server',
  'Database',
  'Webhooks',
  'API auth',
  'Storage and cache',
  'Enrollment',
] as const;
export type Group = (typeof GROUPS)[number];

export interface EnvVariable<T> {
  group: Group;
  /** One line, for people: Markdown with `code` and links by repository path (docs/…). */
  description: string;
  /** What applies when the variable is unset (a value, or e.g. "required in production"); Markdown. */
  default: string;
  /** The value `.env.example` carries; '' leaves it unset there. Secrets carry none. */
  example: string;
  /** A credential: never echoed by an error message, never given a value in `.env.example`. */
  secret: boolean;
  /** The value (null: unset or empty) as Config holds it; throws ConfigError naming the variable. */
  parse: (raw: string | null, name: string, ctx: ParseContext) => T;
}

export function fail(name: string, problem: string): never {
  throw new ConfigError(`${name}: ${problem}`);
}

function parseNodeEnv(raw: string | null, name: string): NodeEnv {
  const v = (raw ?? 'development').trim();
  if (!(NODE_ENVS as readonly string[]).includes(v)) {
    fail(name, `must be one of ${NODE_ENVS.join(', ')}, got ${JSON.stringify(v)}`);
  }
  return v as NodeEnv;
}

function parsePort(raw: string | null, name: string): number {
  if (raw === null) return 4000;
  if (!/^\d{1,5}$/.test(raw.trim()) || Number(raw) > 65535) {
    fail(name, `must be an integer from 0 to 65535, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

/** A whole number of `unit` within [min, max], or `fallback` when unset. */
function whole<F extends number | null>(unit: string, min: number, max: number, fallback: F) {
  return (raw: string | null, name: string): number | F => {
    if (raw === null) return fallback;
    if (!/^\d{1,9}$/.test(raw.trim()) || Number(raw) < min || Number(raw) > max) {
      fail(name, `must be a whole number of ${unit} from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    }
    return Number(raw);
  };
}

const workerCount = whole('worker processes', 1, 1024, 1);

function parseBool(raw: string | null, name: string): boolean {
  if (raw === null) return false;
  const v = raw.trim().toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  return fail(name, `must be true or false, got ${JSON.stringify(raw)}`);
}

function urlOf(protocols: readonly string[]) {
  return (raw: string | null, name: string): URL | null => {
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
  };
}

const httpUrl = urlOf(['https:', 'http:']);
const postgresUrl = urlOf(['postgres:', 'postgresql:']);

/** Taken as it is set (no trimming), as it always was. */
const asIs = (raw: string | null): string | null => raw;

/**
 * Passbase documents the key as a 32-byte string used as is; dashboards and secret stores also hand
 * keys out as 64 hex digits or base64, so those encodings of 32 bytes are accepted too.
 */
function parsePassbaseKey(raw: string | null, name: string): Buffer | null {
  if (raw === null) return null;
  const utf8 = Buffer.from(raw, 'utf8');
  if (utf8.length === 32) return utf8;
  if (/^[0-9a-fA-F]{64}$/.test(raw)) return Buffer.from(raw, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(raw)) {
    const b = Buffer.from(raw, 'base64');
    if (b.length === 32) return b;
  }
  return fail(
    name,
    `must be a 32-byte key (32 characters, 64 hex digits or base64), got ${utf8.length} bytes`,
  );
}

function parseVoveSecret(raw: string | null, name: string): string | null {
  if (raw === null) return null;
  const body = raw.trim().replace(/^whsec_/, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body) || Buffer.from(body, 'base64').length < 16) {
    fail(name, 'must be a Svix secret of the form whsec_<base64>');
  }
  return raw.trim();
}

function parseJwtSecret(raw: string | null, name: string): Uint8Array | null {
  if (raw === null) return null;
  const bytes = new TextEncoder().encode(raw);
  // RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
  if (bytes.length < 32) fail(name, `must be at least 32 bytes, got ${bytes.length}`);
  return bytes;
}

function parseProveEnv(raw: string | null, name: string): string {
  const v = (raw ?? 'uat-us').trim();
  // Anything but a region must be a base URL (a fake or a proxy); src/enrollment/prove-client.ts maps both.
  if (!(PROVE_REGIONS as readonly string[]).includes(v)) httpUrl(raw, name);
  return v;
}

const DEV_SECRET = 'generated in development (kept in `./.data/dev-secrets.json`)';

/** A webhook secret's default: development generates one; elsewhere the endpoint is switched off. */
const webhookDefault = (slug: string) =>
  `${DEV_SECRET}; otherwise \`/webhooks/${slug}\` answers 503 \`provider_not_configured\``;

/** Declaration order is the order of the generated docs. */
export const VARIABLES = {
  PORT: {
    group: 'Server',
    description: 'HTTP and WebSocket port, 0 to 65535 (0: any free port)',
    default: '`4000`',
    example: '4000',
    secret: false,
    parse: parsePort,
  },
  HOST: {
    group: 'Server',
    description: 'Address the HTTP and WebSocket server listens on (`0.0.0.0`: every interface)',
    default: '`127.0.0.1`; `0.0.0.0` in production',
    example: '',
    secret: false,
    parse: (raw, _name, ctx) => raw?.trim() ?? (ctx.production ? '0.0.0.0' : '127.0.0.1'),
  },
  NODE_ENV: {
    group: 'Server',
    description:
      '`development`, `production` or `test` (anything else is refused). `production` requires API auth and ' +
      '`DATABASE_URL`, generates nothing, and turns off the development token, the GraphiQL explorer, GraphQL ' +
      'introspection and field suggestions in errors; `test` uses a throwaway API secret and generates no ' +
      'webhook secrets',
    default: '`development`',
    example: 'development',
    secret: false,
    parse: parseNodeEnv,
  },
  LOG_LEVEL: {
    group: 'Server',
    description: `Level of the JSON log lines on stdout: ${LOG_LEVELS.map((l) => `\`${l}\``).join(', ')}`,
    default: '`info`',
    example: 'info',
    secret: false,
    parse: (raw, name) => {
      const level = raw ?? 'info';
      if (!(LOG_LEVELS as readonly string[]).includes(level)) {
        fail(name, `must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
      }
      return level;
    },
  },
  WEB_CONCURRENCY: {
    group: 'Server',
    description:
      'Worker processes serving HTTP and WebSockets on one port (`node:cluster`), 1 to 1024; each is a replica ' +
      'with its own pool, LISTEN connection and spool subdirectory. `1`: one process, no cluster ' +
      '([ADR 15](docs/adr/0015-cluster.md))',
    default: 'the number of cores (`os.availableParallelism()`) in production; `1` otherwise',
    example: '',
    secret: false,
    // One process in development and tests (one log, one debugger, as before); production uses every core.
    parse: (raw, name, ctx) =>
      raw === null ? (ctx.production ? os.availableParallelism() : 1) : workerCount(raw, name),
  },
  DATABASE_URL: {
    group: 'Database',
    description: 'PostgreSQL connection string, `postgres://` or `postgresql://` (it holds the password)',
    default: 'an embedded PostgreSQL, data in `./.data/pg`; required in production',
    example: '',
    secret: true,
    parse: (raw, name) => postgresUrl(raw, name)?.toString() ?? null,
  },
  PROVE_WEBHOOK_SECRET: {
    group: 'Webhooks',
    description:
      "Prove's HS256 webhook secret as the Portal shows it (`whsec_…`). Prove does not say which bytes it signs " +
      'with: a token verifies under the UTF-8 bytes of the whole string or, when the part after `whsec_` is ' +
      'base64 of at least 16 bytes, under those decoded bytes; each delivery records which matched ' +
      '(`webhookDeliveries { signingKey }`: `utf8` or `base64`) and `/metrics` counts them ' +
      '(`webhook_signing_key_matches_total`; [Prove](docs/api.md#prove-webhooksprove))',
    default: webhookDefault('prove'),
    example: '',
    secret: true,
    parse: asIs,
  },
  VOVE_WEBHOOK_SECRET: {
    group: 'Webhooks',
    description: "VOVE ID's Svix secret `whsec_<base64>` (at least 16 bytes decoded)",
    default: webhookDefault('vove'),
    example: '',
    secret: true,
    parse: parseVoveSecret,
  },
  PASSBASE_WEBHOOK_SECRET: {
    group: 'Webhooks',
    description: "Passbase's 32-byte AES-256-CBC key: 32 characters, or 32 bytes as 64 hex digits or base64",
    default: webhookDefault('passbase'),
    example: '',
    secret: true,
    parse: parsePassbaseKey,
  },
  PASSBASE_ALLOW_UNENCRYPTED: {
    group: 'Webhooks',
    description:
      '`true` (or `1`) accepts plain-JSON Passbase deliveries, which carry no authentication at all',
    default: '`false`',
    example: 'false',
    secret: false,
    parse: parseBool,
  },
  AUTH_JWT_SECRET: {
    group: 'API auth',
    description:
      'HS256 secret for API bearer tokens, at least 32 bytes; set this or `AUTH_JWKS_URL`, not both',
    default:
      `${DEV_SECRET}, and an admin token printed at start-up; a throwaway one under \`test\`; ` +
      'production requires it or `AUTH_JWKS_URL`',
    example: '',
    secret: true,
    parse: parseJwtSecret,
  },
  AUTH_JWKS_URL: {
    group: 'API auth',
    description:
      '`https` or `http` URL of a JWKS for RS256/ES256 API bearer tokens, instead of `AUTH_JWT_SECRET`',
    default: 'not used',
    example: '',
    secret: false,
    parse: httpUrl,
  },
  AUTH_ISSUER: {
    group: 'API auth',
    description: 'The `iss` every API token must carry',
    default: 'not checked',
    example: '',
    secret: false,
    parse: asIs,
  },
  AUTH_AUDIENCE: {
    group: 'API auth',
    description: 'The `aud` every API token must carry',
    default: 'not checked',
    example: '',
    secret: false,
    parse: asIs,
  },
  SPOOL_DIR: {
    group: 'Storage and cache',
    description:
      'Where verified deliveries wait, fsynced, while PostgreSQL is unreachable (relative to the working directory)',
    default: '`./.data/spool`',
    example: './.data/spool',
    secret: false,
    parse: (raw, _name, ctx) => path.resolve(ctx.cwd, raw ?? path.join(ctx.dataDir, 'spool')),
  },
  GRAPHQL_CACHE_TTL_MS: {
    group: 'Storage and cache',
    description:
      "Longest time in milliseconds, 0 to 60000, a read query's answer is served from memory; 0 turns the " +
      'cache off. Answers are dropped sooner, at once, when any replica commits events ' +
      '([ADR 8](docs/adr/0008-response-cache.md))',
    default: '`1000`',
    example: '1000',
    secret: false,
    parse: whole('milliseconds', 0, 60_000, 1000),
  },
  WEBHOOK_DELIVERY_RETENTION_DAYS: {
    group: 'Storage and cache',
    description:
      'Delivery records (`webhookDeliveries`) older than this many days, 1 to 36500, are deleted in batches ' +
      'every 5 minutes; the events they carried stay',
    default: 'kept for good',
    example: '',
    secret: false,
    parse: whole('days', 1, 36_500, null),
  },
  PROVE_CLIENT_ID: {
    group: 'Enrollment',
    description: 'Prove Identity Manager API client id for enrollment; both credentials or neither',
    default: 'local sandbox enrollment (with `PROVE_CLIENT_SECRET` unset too)',
    example: '',
    secret: false,
    parse: asIs,
  },
  PROVE_CLIENT_SECRET: {
    group: 'Enrollment',
    description: 'Prove Identity Manager API client secret for enrollment; both credentials or neither',
    default: 'local sandbox enrollment (with `PROVE_CLIENT_ID` unset too)',
    example: '',
    secret: true,
    parse: asIs,
  },
  PROVE_ENV: {
    group: 'Enrollment',
    description:
      `Prove environment, read with the client credentials: ${PROVE_REGIONS.map((r) => `\`${r}\``).join(', ')}, ` +
      'or an `http(s)` base URL (no credentials, query or fragment)',
    default: '`uat-us`',
    example: 'uat-us',
    secret: false,
    parse: parseProveEnv,
  },
} satisfies Record<string, EnvVariable<unknown>>;

export type VariableName = keyof typeof VARIABLES;
export const VARIABLE_NAMES = Object.keys(VARIABLES) as VariableName[];

/** What each variable parses to. */
export type Parsed = { [K in VariableName]: ReturnType<(typeof VARIABLES)[K]['parse']> };

export type Env = Readonly<Record<string, string | undefined>>;

/** The raw value of a declared variable; empty strings count as unset, as shells and compose files produce them. */
export function read(env: Env, name: VariableName): string | null {
  const v = env[name];
  return v === undefined || v.trim() === '' ? null : v;
}

/** Runs a variable's parser on `raw` (its value, or a stand-in such as a development secret). */
export function parseVariable<K extends VariableName>(
  name: K,
  raw: string | null,
  ctx: ParseContext,
): Parsed[K] {
  const parse = VARIABLES[name].parse as EnvVariable<Parsed[K]>['parse'];
  return parse(raw, name, ctx);
}
