/**
 * `npm run simulate -- [--provider prove|vove|passbase|all] [--count N] [--url URL] [--rate R]`: sends
 * realistic webhook deliveries, signed with the configured (or development) secrets, to a running server.
 */
import cliProgress from 'cli-progress';
import { signToken } from '../auth/tokens.js';
import { type Config, loadProcessConfig } from '../config.js';
import { checkSecrets, MissingSecretError, type SimulatorSecrets, simulate } from '../simulator/simulate.js';
import { SIM_PROVIDERS, type SimProvider } from '../simulator/stories.js';
import { formatSummary } from '../simulator/summary.js';
import { parseFlags, runCli, UsageError } from './args.js';

const USAGE = `Usage: npm run simulate -- [--provider prove|vove|passbase|all] [--count N] [--url URL] [--rate R]

  --provider  which provider's webhooks to send (default all, the count shared evenly)
  --count     deliveries (HTTP requests) to send, 1 to ${100_000} (default 100)
  --url       the server (default http://127.0.0.1:<PORT>, PORT from the configuration, 4000 unset)
  --rate      at most R deliveries a second (default: as fast as 4 in flight at once allow)

Secrets come from the configuration (.env, the environment, or .data/dev-secrets.json in development).
Exit code 0: every delivery accepted (2xx); 1: some refused or unanswered; 2: bad flags or configuration.`;

const MAX_COUNT = 100_000;
const MAX_RATE = 10_000;

interface Flags {
  providers: SimProvider[];
  count: number;
  url: string | null;
  rate: number | null;
}

function readFlags(argv: string[]): Flags | 'help' {
  const v = parseFlags(argv, {
    provider: { type: 'string' },
    count: { type: 'string' },
    url: { type: 'string' },
    rate: { type: 'string' },
    help: { type: 'boolean' },
  });
  if (v.help) return 'help';
  const provider = v.provider ?? 'all';
  if (provider !== 'all' && !(SIM_PROVIDERS as readonly string[]).includes(provider)) {
    throw new UsageError(`--provider must be prove, vove, passbase or all, got ${JSON.stringify(provider)}`);
  }
  const count = v.count ?? '100';
  if (!/^\d{1,7}$/.test(count) || Number(count) < 1 || Number(count) > MAX_COUNT) {
    throw new UsageError(
      `--count must be a whole number from 1 to ${MAX_COUNT}, got ${JSON.stringify(count)}`,
    );
  }
  let rate: number | null = null;
  if (v.rate !== undefined) {
    rate = /^\d{1,6}(\.\d{1,6})?$/.test(v.rate) ? Number(v.rate) : Number.NaN;
    if (!(rate > 0 && rate <= MAX_RATE)) {
      throw new UsageError(
        `--rate must be a number of deliveries a second above 0 and at most ${MAX_RATE}, got ${JSON.stringify(v.rate)}`,
      );
    }
  }
  return {
    providers: provider === 'all' ? [...SIM_PROVIDERS] : [provider as SimProvider],
    count: Number(count),
    url: v.url === undefined ? null : checkUrl(v.url),
    rate,
  };
}

function checkUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url is not a valid URL (expected e.g. http://127.0.0.1:4000)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--url must be an http:// or https:// URL, got ${url.protocol.replace(':', '')}`);
  }
  if (url.search || url.hash) throw new UsageError('--url must be the server base URL, without ? or #');
  return url.toString().replace(/\/+$/, '');
}

/** A short-lived `identities:read` token the server accepts, or why none can be made here. */
async function listingToken(config: Config): Promise<{ token: string } | { note: string }> {
  const { auth } = config;
  if (auth.kind === 'jwks') {
    return { note: 'AUTH_JWKS_URL is set, so no API token can be signed here: new identities only' };
  }
  if (config.secretSources.auth === 'random') {
    return { note: 'no AUTH_JWT_SECRET (the server makes a random one): new identities only' };
  }
  const token = await signToken(auth.secret, {
    scopes: ['identities:read'],
    subject: 'simulator',
    expiresIn: '10m',
    ...(auth.issuer ? { issuer: auth.issuer } : {}),
    ...(auth.audience ? { audience: auth.audience } : {}),
  });
  return { token };
}

async function main(): Promise<number> {
  const flags = readFlags(process.argv.slice(2));
  if (flags === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const config = loadProcessConfig();
  const secrets: SimulatorSecrets = {
    prove: config.webhooks.proveSecret,
    vove: config.webhooks.voveSecret,
    passbase: config.webhooks.passbaseKey,
  };
  try {
    checkSecrets(flags.providers, secrets);
  } catch (err) {
    throw err instanceof MissingSecretError ? new UsageError(err.message) : err;
  }
  const url = flags.url ?? `http://127.0.0.1:${config.port === 0 ? 4000 : config.port}`;
  const listing = await listingToken(config);
  // A bar only where someone watches it, and only when the run lasts long enough to need one.
  const bar =
    process.stderr.isTTY && flags.count >= 100
      ? new cliProgress.SingleBar(
          { stream: process.stderr, format: 'simulate [{bar}] {value}/{total} deliveries, {eta}s left' },
          cliProgress.Presets.shades_classic,
        )
      : null;
  bar?.start(flags.count, 0);
  let summary: Awaited<ReturnType<typeof simulate>>;
  try {
    summary = await simulate({
      url,
      providers: flags.providers,
      count: flags.count,
      rate: flags.rate,
      secrets,
      apiToken: 'token' in listing ? listing.token : null,
      onProgress: (done) => bar?.update(done),
    });
  } finally {
    bar?.stop();
  }
  if ('note' in listing) summary.notes.unshift(listing.note);
  process.stdout.write(formatSummary(summary));
  return summary.refused === 0 ? 0 : 1;
}

await runCli('simulate', main);
