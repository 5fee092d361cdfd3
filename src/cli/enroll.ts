/**
 * `npm run enroll -- FILE.csv [--url URL] [--token T] [--failures OUT.csv]`: bulk enrollment from a CSV
 * file (header row: phoneNumber, clientCustomerId, optional provider and providerIdentityId) through
 * the GraphQL API, 100 rows per batchEnrollIdentities call. A row the server already has comes back
 * ALREADY_ENROLLED and counts as done, so running the same file again enrolls nothing twice.
 * Exit status: 0 every row enrolled or already enrolled; 1 some row failed, or the run stopped;
 * 2 the arguments, the configuration or the file's header cannot be used (nothing was sent).
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Presets, SingleBar } from 'cli-progress';
import { ConfigError, loadProcessConfig } from '../config.js';
import type { EnrollInput } from '../domain/enrollment.js';
import { PROVIDERS, type Provider } from '../domain/types.js';
import { enrollBatch, FatalError, type ReportCode } from './enroll-api.js';
import { COLUMNS, type Column, CsvHeaderError, readEnrollmentCsv, toCsv } from './enroll-csv.js';
import { LocalTokenError, localToken, localUrl } from './local-token.js';

const USAGE = `usage: npm run enroll -- FILE.csv [--url URL] [--token TOKEN] [--failures OUT.csv]

  FILE.csv          header row with phoneNumber and clientCustomerId, optionally provider
                    (PROVE, PASSBASE or VOVE; default PROVE) and providerIdentityId
  --url URL         the API (default: this checkout's server, http://127.0.0.1:$PORT)
  --token TOKEN     a bearer token with the identities:write scope (default outside production:
                    one signed with AUTH_JWT_SECRET or the development secret)
  --failures FILE   where failed rows go (default: FILE-failed.csv beside the input)

Exit status: 0 all rows enrolled or already enrolled, 1 some failed, 2 nothing could be sent.`;

/** The contract's batch limit: one call per 100 rows. */
const BATCH_SIZE = 100;
/** Failures listed on the terminal; the failures file has them all. */
const SHOWN_FAILURES = 20;

/** Bad arguments: said with the usage, exit 2. */
class UsageError extends Error {
  override name = 'UsageError';
}

/** The file or the configuration cannot be used: said in one line, exit 2, nothing sent. */
class InputError extends Error {
  override name = 'InputError';
}

interface Options {
  file: string;
  url: string | null;
  token: string | null;
  failures: string;
}

function parseOptions(argv: string[]): Options {
  let parsed: {
    values: { url?: string; token?: string; failures?: string; help?: boolean };
    positionals: string[];
  };
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        failures: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    // node's own words name the flag: "Unknown option '--tokn'", "Option '--url <value>' argument missing".
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) throw new UsageError('');
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0 ? 'no CSV file given' : 'give exactly one CSV file');
  }
  const file = path.resolve(positionals[0] as string);
  const failures = path.resolve(values.failures ?? file.replace(/(\.csv)?$/i, '-failed.csv'));
  if (failures === file) throw new UsageError('--failures must not be the input file');
  return { file, url: values.url ?? null, token: values.token ?? null, failures };
}

/** The GraphQL endpoint from --url (a base URL or one ending in /graphql). */
function endpointOf(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--url is not a URL: ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError('--url must use http or https');
  if (!u.pathname.endsWith('/graphql')) u.pathname = `${u.pathname.replace(/\/$/, '')}/graphql`;
  return u.toString();
}

/** Where to send and with which token: the flags, or what this checkout's configuration gives. */
async function target(opts: Options): Promise<{ endpoint: string; token: string }> {
  if (opts.url !== null && opts.token !== null) {
    return { endpoint: endpointOf(opts.url), token: opts.token.replace(/^Bearer\s+/i, '') };
  }
  let config: ReturnType<typeof loadProcessConfig>;
  try {
    config = loadProcessConfig();
  } catch (err) {
    if (err instanceof ConfigError) throw new InputError(`configuration error: ${err.message}`);
    throw err;
  }
  let token = opts.token?.replace(/^Bearer\s+/i, '');
  try {
    token ??= await localToken(config, {
      scopes: ['identities:write'],
      subject: 'enroll-cli',
      expiresIn: '1d',
    });
  } catch (err) {
    if (err instanceof LocalTokenError) throw new InputError(`--token is required: ${err.message}`);
    throw err;
  }
  return { endpoint: endpointOf(opts.url ?? localUrl(config)), token };
}

interface Failure {
  line: number;
  /** A ReportCode, or the error code the server answered for the row. */
  code: string;
  message: string;
  values: Record<Column, string> | null;
}

interface Pending {
  line: number;
  values: Record<Column, string>;
  input: EnrollInput;
}

/**
 * What the server can be sent for a row, or why not. A PROVE row needs its clientCustomerId: it is how
 * the server knows the row again on a rerun. A row repeating an earlier row's customer or provider id
 * fails here, naming that line (the server would call it a duplicate of a batch item, or already enrolled).
 */
function checkRow(
  line: number,
  values: Record<Column, string>,
  seen: Map<string, number>,
): EnrollInput | { code: ReportCode; message: string } {
  const rawProvider = values.provider.trim().toUpperCase() || 'PROVE';
  if (!(PROVIDERS as readonly string[]).includes(rawProvider)) {
    return {
      code: 'BAD_USER_INPUT',
      message: `provider must be one of ${PROVIDERS.join(', ')} (or empty for PROVE)`,
    };
  }
  const provider = rawProvider as Provider;
  const customer = values.clientCustomerId.trim();
  const providerId = values.providerIdentityId.trim();
  if (provider === 'PROVE' && customer === '') {
    return {
      code: 'BAD_USER_INPUT',
      message: 'clientCustomerId is empty: PROVE rows need one, so that running the file again skips them',
    };
  }
  const keys = [
    ...(customer ? [`${provider}:customer:${customer}`] : []),
    ...(providerId ? [`${provider}:identity:${providerId}`] : []),
  ];
  const earlier = keys.map((k) => seen.get(k)).find((l) => l !== undefined);
  if (earlier !== undefined) {
    return {
      code: 'DUPLICATE_ROW',
      message: `same provider and clientCustomerId or providerIdentityId as line ${earlier}`,
    };
  }
  for (const k of keys) seen.set(k, line);
  // Empty cells are left out: the API refuses an empty string where a value may be omitted.
  return {
    provider,
    ...(values.phoneNumber.trim() ? { phoneNumber: values.phoneNumber } : {}),
    ...(customer ? { clientCustomerId: values.clientCustomerId } : {}),
    ...(providerId ? { providerIdentityId: values.providerIdentityId } : {}),
  };
}

/** Written whole then renamed, mode 0600: the rows hold customers' phone numbers. */
async function writeFailures(file: string, failures: readonly Failure[]): Promise<void> {
  const rows = failures.map((f) => [
    String(f.line),
    f.code,
    f.message,
    ...COLUMNS.map((c) => f.values?.[c] ?? ''),
  ]);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, toCsv(['line', 'code', 'message', ...COLUMNS], rows), { mode: 0o600 });
  await rename(tmp, file);
}

/** Reads and checks every row: the rows to send, and those failed already (malformed, or refused by checkRow). */
async function readRows(file: string): Promise<{ pending: Pending[]; failures: Failure[]; total: number }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let rows: ReturnType<typeof readEnrollmentCsv>;
  try {
    rows = readEnrollmentCsv(text);
  } catch (err) {
    if (err instanceof CsvHeaderError) throw new InputError(`${file}: ${err.message}`);
    throw err;
  }
  const failures: Failure[] = [];
  const pending: Pending[] = [];
  const seen = new Map<string, number>();
  for (const row of rows) {
    if (row.malformed !== undefined) {
      const malformed = { code: 'MALFORMED_CSV' satisfies ReportCode, message: row.malformed };
      failures.push({ line: row.line, ...malformed, values: null });
      continue;
    }
    const checked = checkRow(row.line, row.values, seen);
    if ('code' in checked) failures.push({ line: row.line, values: row.values, ...checked });
    else pending.push({ line: row.line, values: row.values, input: checked });
  }
  return { pending, failures, total: rows.length };
}

interface Tally {
  enrolled: number;
  already: number;
  /** Rows sent so far (answered or not). */
  sent: number;
}

/** Sends the rows, BATCH_SIZE per call, adding to `failures`; throws FatalError when the run must stop. */
async function sendRows(
  target: { endpoint: string; token: string },
  pending: readonly Pending[],
  failures: Failure[],
  tally: Tally,
  progress: (rows: number) => void,
): Promise<void> {
  for (; tally.sent < pending.length; tally.sent += BATCH_SIZE) {
    const batch = pending.slice(tally.sent, tally.sent + BATCH_SIZE);
    const answer = await enrollBatch(
      target.endpoint,
      target.token,
      batch.map((p) => p.input),
    );
    if (answer.kind === 'failed') {
      for (const p of batch)
        failures.push({ line: p.line, values: p.values, code: answer.code, message: answer.message });
    } else {
      const byIndex = new Map(answer.results.map((r) => [r.index, r]));
      batch.forEach((p, index) => {
        const r = byIndex.get(index);
        if (r?.identity) tally.enrolled++;
        else if (r?.error?.code === 'ALREADY_ENROLLED') tally.already++;
        else {
          const { code, message } = r?.error ?? {
            code: 'NO_RESULT' satisfies ReportCode,
            message: 'the server answered nothing for it',
          };
          failures.push({ line: p.line, values: p.values, code, message });
        }
      });
    }
    progress(batch.length);
  }
}

/** A bar with an ETA on a terminal's stderr; nothing when stderr is a file or a pipe. */
function progressBar(total: number, done: number): SingleBar | null {
  if (!process.stderr.isTTY) return null;
  const bar = new SingleBar(
    {
      format: 'enrolling [{bar}] {percentage}% | {value}/{total} rows | ETA {eta_formatted}',
      hideCursor: true,
      etaBuffer: 20,
    },
    Presets.shades_classic,
  );
  bar.start(total, done);
  return bar;
}

async function run(argv: string[]): Promise<number> {
  const opts = parseOptions(argv);
  const { pending, failures, total } = await readRows(opts.file);
  const to = await target(opts);
  const tally: Tally = { enrolled: 0, already: 0, sent: 0 };
  const bar = progressBar(total, total - pending.length);
  try {
    await sendRows(to, pending, failures, tally, (n) => bar?.increment(n));
  } catch (err) {
    bar?.stop();
    if (!(err instanceof FatalError)) throw err;
    process.stderr.write(`enroll: ${err.message}\n`);
    if (tally.sent > 0) {
      process.stderr.write(
        `enroll: stopped after ${tally.sent} of ${pending.length} rows to send ` +
          `(${tally.enrolled} enrolled, ${tally.already} already enrolled); ` +
          'run it again to go on: rows already enrolled are skipped\n',
      );
    }
    return 1;
  }
  bar?.stop();

  failures.sort((a, b) => a.line - b.line);
  await writeFailures(opts.failures, failures);
  for (const f of failures.slice(0, SHOWN_FAILURES)) {
    process.stderr.write(`line ${f.line}: ${f.code}: ${f.message}\n`);
  }
  if (failures.length > SHOWN_FAILURES) {
    process.stderr.write(`… and ${failures.length - SHOWN_FAILURES} more in ${opts.failures}\n`);
  }
  const where = failures.length > 0 ? ` (line, code and message in ${opts.failures})` : '';
  process.stdout.write(
    `${path.basename(opts.file)}: ${total} rows\n` +
      `  enrolled:         ${tally.enrolled}\n` +
      `  already enrolled: ${tally.already}\n` +
      `  failed:           ${failures.length}${where}\n`,
  );
  if (failures.length === 0) return 0;
  process.stdout.write('Some rows failed: fix them in the failures file and run enroll on it.\n');
  return 1;
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError && err.message === '') {
      process.stdout.write(`${USAGE}\n`);
      return;
    }
    if (err instanceof UsageError || err instanceof InputError) {
      process.stderr.write(`enroll: ${err.message}\n${err instanceof UsageError ? `\n${USAGE}\n` : ''}`);
      process.exitCode = 2;
      return;
    }
    // Unexpected: say what, never a stack (it may hold a file's contents).
    process.stderr.write(`enroll: failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
