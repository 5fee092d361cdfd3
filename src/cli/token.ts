/**
 * `npm run token -- --scopes "identities:read events:read" [--expires 1h] [--sub NAME]`: prints an API
 * token (and nothing else, for `TOKEN=$(npm run -s token -- …)`) signed with AUTH_JWT_SECRET or the
 * development secret, so the server started with the same configuration accepts it.
 */
import { SCOPES } from '../auth/scopes.js';
import { MAX_TOKEN_LIFETIME_DAYS, signToken } from '../auth/tokens.js';
import { loadProcessConfig } from '../config.js';
import { parseFlags, runCli, UsageError } from './args.js';

const USAGE = `Usage: npm run -s token -- --scopes "<scopes>|all" [--expires 1h] [--sub NAME]

  --scopes   space- or comma-separated, from: ${SCOPES.join(', ')}; or all
  --expires  lifetime: a whole number of s, m, h, d or w (e.g. 90m, 7d), 1s to ${MAX_TOKEN_LIFETIME_DAYS}d, the longest the server accepts (default 1h)
  --sub      the token's subject, who it is for (default cli)

Signed with AUTH_JWT_SECRET, or in development with the secret in .data/dev-secrets.json; iss and aud
are set from AUTH_ISSUER and AUTH_AUDIENCE. Exit code 2 (nothing printed on stdout) when it cannot be made.`;

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800, y: 31_557_600 };
// The units jose's time spans accept, whole numbers only; signed as seconds, so both read them alike.
const SPAN = /^(\d{1,9}) ?(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w|years?|yrs?|y)$/i;
// The server refuses a token living longer (src/auth/tokens.ts): none is signed that it would refuse.
const MAX_SECONDS = MAX_TOKEN_LIFETIME_DAYS * (UNIT_SECONDS.d as number);

function readScopes(raw: string | undefined): string[] {
  const listed = (raw ?? '').split(/[\s,]+/).filter((s) => s.length > 0);
  const valid = `${SCOPES.join(', ')}, or all`;
  if (listed.length === 0) throw new UsageError(`--scopes is required: one or more of ${valid}`);
  if (listed.includes('all')) return [...SCOPES];
  const unknown = listed.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (unknown.length > 0) {
    const names = unknown.map((s) => JSON.stringify(s.slice(0, 40))).join(', ');
    throw new UsageError(`--scopes: unknown scope ${names}; the scopes are ${valid}`);
  }
  return [...new Set(listed)];
}

function readExpires(raw: string | undefined): number {
  const match = SPAN.exec(raw ?? '1h');
  const seconds = match ? Number(match[1]) * (UNIT_SECONDS[match[2]!.toLowerCase()[0]!] as number) : 0;
  if (seconds < 1 || seconds > MAX_SECONDS) {
    throw new UsageError(
      `--expires must be a lifetime from 1s to ${MAX_TOKEN_LIFETIME_DAYS}d such as 90m, 1h or 7d, got ${JSON.stringify(raw?.slice(0, 40))}`,
    );
  }
  return seconds;
}

function readSubject(raw: string | undefined): string {
  const sub = raw ?? 'cli';
  // The subject ends up in the server's logs: no control characters.
  if (sub.trim() === '' || sub.length > 200 || [...sub].some((c) => c.charCodeAt(0) < 0x20)) {
    throw new UsageError('--sub must be 1 to 200 printable characters');
  }
  return sub;
}

async function main(): Promise<number> {
  const flags = parseFlags(process.argv.slice(2), {
    scopes: { type: 'string' },
    expires: { type: 'string' },
    sub: { type: 'string' },
    help: { type: 'boolean' },
  });
  if (flags.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const scopes = readScopes(flags.scopes);
  const seconds = readExpires(flags.expires);
  const subject = readSubject(flags.sub);
  const config = loadProcessConfig();
  const { auth } = config;
  if (auth.kind === 'jwks') {
    throw new UsageError(
      'AUTH_JWKS_URL is set: tokens come from your identity provider; npm run token signs only with AUTH_JWT_SECRET or the development secret',
    );
  }
  if (config.secretSources.auth === 'random') {
    throw new UsageError(
      `no AUTH_JWT_SECRET and NODE_ENV=${config.nodeEnv}: the server would sign with a random secret of its own, ` +
        'so no token made here would be accepted; set AUTH_JWT_SECRET (or use NODE_ENV=development)',
    );
  }
  const token = await signToken(auth.secret, {
    scopes,
    subject,
    expiresIn: `${seconds}s`,
    ...(auth.issuer ? { issuer: auth.issuer } : {}),
    ...(auth.audience ? { audience: auth.audience } : {}),
  });
  process.stdout.write(`${token}\n`);
  if (process.stderr.isTTY) {
    const source = config.secretSources.auth === 'env' ? 'AUTH_JWT_SECRET' : 'the development secret';
    const until = new Date(Date.now() + seconds * 1000).toISOString();
    process.stderr.write(
      `(sub ${subject}, scopes ${scopes.join(' ')}, signed with ${source}, expires ${until})\n`,
    );
  }
  return 0;
}

await runCli('token', main);
