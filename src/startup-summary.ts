import path from 'node:path';
import type { Config } from './config.js';
import type { DatabaseInfo } from './db/database.js';
import { PROVIDER_SLUGS, type ProviderSlug } from './ingest/providers/index.js';

/** What the start-up summary tells; nothing in it is a secret but the dev token, printed on purpose. */
export interface StartupInfo {
  url: string;
  config: Pick<Config, 'nodeEnv' | 'secretSources' | 'prove' | 'auth'>;
  devToken: string | null;
  database: DatabaseInfo;
  /** Paths inside it are shown relative to it (`.data/pg`). */
  cwd: string;
  /** Cluster workers (WEB_CONCURRENCY) when more than one; unset: a single process. */
  workers?: number;
}

/** The line before the dev token; the token is alone on the next line (tests read it from there). */
export const DEV_TOKEN_LABEL = 'Development admin token';

const DEV_SECRETS = 'development secret (.data/dev-secrets.json)';
const SECRET_VARIABLE: Record<ProviderSlug, string> = {
  prove: 'PROVE_WEBHOOK_SECRET',
  vove: 'VOVE_WEBHOOK_SECRET',
  passbase: 'PASSBASE_WEBHOOK_SECRET',
};

function shown(cwd: string, dir: string): string {
  const rel = path.relative(cwd, dir);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : dir;
}

function webhookSource(info: StartupInfo, slug: ProviderSlug): string {
  const source = info.config.secretSources[slug];
  if (source === 'env') return `environment (${SECRET_VARIABLE[slug]})`;
  if (source === 'dev-secrets') return DEV_SECRETS;
  return `not configured: /webhooks/${slug} answers 503`;
}

function authSource(info: StartupInfo): string {
  const { auth } = info.config;
  switch (info.config.secretSources.auth) {
    case 'env':
      return 'AUTH_JWT_SECRET (environment)';
    case 'jwks': {
      const url = auth.kind === 'jwks' ? new URL(auth.jwksUrl) : null;
      if (url) url.username = url.password = '';
      return `AUTH_JWKS_URL (${url?.toString() ?? ''})`;
    }
    case 'dev-secrets':
      return DEV_SECRETS;
    case 'random':
      return 'a random secret made for this run';
  }
}

function databaseText(info: StartupInfo): string {
  const db = info.database;
  if (db.kind === 'embedded') {
    return `embedded PostgreSQL on 127.0.0.1:${db.port} (data in ${shown(info.cwd, db.dataDir)})`;
  }
  return `DATABASE_URL ${db.url}`;
}

function enrollmentText(info: StartupInfo): string {
  const prove = info.config.prove;
  if (prove) return `Prove API (PROVE_ENV=${prove.env})`;
  return "local sandbox (set PROVE_CLIENT_ID and PROVE_CLIENT_SECRET for Prove's API)";
}

/** The plain-text summary `npm start` prints once it listens (outside production). */
export function formatStartupSummary(info: StartupInfo): string {
  const rows: [string, string][] = [['URL', info.url]];
  if (info.config.nodeEnv !== 'production') {
    rows.push(['Explorer', `${info.url}/graphql (open it in a browser)`]);
  }
  if (info.workers !== undefined && info.workers > 1) {
    rows.push(['Workers', `${info.workers} processes (WEB_CONCURRENCY) sharing the port`]);
  }
  rows.push(
    ['Database', databaseText(info)],
    ['API auth', authSource(info)],
    ['Enrollment', enrollmentText(info)],
  );
  PROVIDER_SLUGS.forEach((slug, i) => {
    rows.push([i === 0 ? 'Webhooks' : '', `${slug.padEnd(9)}${webhookSource(info, slug)}`]);
  });
  const lines = [
    `identity-monitor is ready (${info.config.nodeEnv})`,
    '',
    ...rows.map(([k, v]) => `  ${k.padEnd(12)}${v}`),
  ];
  if (info.devToken) {
    const lasting =
      info.config.secretSources.auth === 'dev-secrets'
        ? 'signed with the development secret in .data/dev-secrets.json, so it keeps working across restarts'
        : 'signed with a random secret made for this run: it stops working when the server stops';
    lines.push(
      '',
      `${DEV_TOKEN_LABEL} (every scope; ${lasting}):`,
      info.devToken,
      '',
      `Use it:     curl -s ${info.url}/graphql -H 'authorization: Bearer <the token>' ` +
        `-H 'content-type: application/json' -d '{"query":"{ riskSummary { total } }"}'`,
    );
  }
  lines.push(
    '',
    'Next:       `npm run simulate` sends signed test deliveries to the webhooks; ' +
      '`npm run token -- --scopes "events:read"` makes a token with only those scopes.',
  );
  return `\n${lines.join('\n')}\n\n`;
}

/** The same facts as fields of the 'server listening' log line (production prints no summary). */
export function startupFacts(info: StartupInfo): Record<string, unknown> {
  const s = info.config.secretSources;
  return {
    url: info.url,
    nodeEnv: info.config.nodeEnv,
    database:
      info.database.kind === 'embedded'
        ? { kind: 'embedded', port: info.database.port, dataDir: info.database.dataDir }
        : { kind: 'external', url: info.database.url },
    auth: s.auth,
    webhooks: { prove: s.prove, vove: s.vove, passbase: s.passbase },
    enrollment: info.config.prove ? { kind: 'prove', proveEnv: info.config.prove.env } : { kind: 'sandbox' },
  };
}
