import { readdir, readFile, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Who holds a data directory: PostgreSQL's lock file (`postmaster.pid`) read critically. The file
 * outlives a postmaster killed with SIGKILL or a reboot, and its PID may since belong to another
 * process, so a PID (and the port beside it) counts only once /proc shows a postmaster in that
 * directory.
 */

export interface PidFile {
  text: string;
  pid: number;
  port: number;
  /** `starting`, `ready` or `stopping`; empty early in start-up. */
  status: string;
}

export interface Postmaster {
  pid: number;
  port: number;
}

const LOCK_FILE = 'postmaster.pid';

/** Linux; elsewhere PIDs are trusted as pg_ctl trusts them (kill 0), and stale files left to postgres. */
const procfs = stat('/proc/self/cwd').then(
  () => true,
  () => false,
);

export async function readPidFile(dir: string): Promise<PidFile | null> {
  const text = await readFile(path.join(dir, LOCK_FILE), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (text === null) return null;
  const lines = text.split('\n');
  return { text, pid: Number(lines[0]), port: Number(lines[3]), status: (lines[7] ?? '').trim() };
}

/**
 * A postgres process of the cluster in `dir`: every one of them chdirs into the data directory. The
 * postmaster keeps its argv (`…/postgres -D …`); its children retitle themselves `postgres: …`.
 */
async function roleOf(pid: number, dir: string): Promise<'postmaster' | 'child' | null> {
  const [cwd, target, cmdline] = await Promise.all([
    stat(`/proc/${pid}/cwd`).catch(() => null),
    stat(dir),
    readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''),
  ]);
  if (!cwd || cwd.dev !== target.dev || cwd.ino !== target.ino) return null;
  const argv0 = cmdline.split('\0')[0] ?? '';
  if (path.basename(argv0) === 'postgres') return 'postmaster';
  return argv0.startsWith('postgres') ? 'child' : null;
}

/** Whether a process with this PID exists (EPERM: it does, under another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The setting through which the server records which process started it. */
export const STARTER_SETTING = 'idm.started_by';
const STARTER_IN_OPTS = /"idm\.started_by=(\d+)"/;

/** The PID of the process that started the server now running on `dir` (from its command line). */
export async function starterPid(dir: string): Promise<number | null> {
  const opts = await readFile(path.join(dir, 'postmaster.opts'), 'utf8').catch(() => '');
  const pid = Number(STARTER_IN_OPTS.exec(opts)?.[1]);
  return pid > 0 ? pid : null;
}

/** Whether `pid` is a live postmaster serving `dir` (not a dead PID, nor one reused by another process). */
export async function isPostmaster(pid: number, dir: string): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (!(await procfs)) return isAlive(pid);
  return (await roleOf(pid, dir)) === 'postmaster';
}

/** Backends of a killed postmaster run on for a moment; starting a new one under them risks the data. */
async function orphans(dir: string): Promise<number[]> {
  const pids = (await readdir('/proc')).filter((n) => /^\d+$/.test(n)).map(Number);
  const roles = await Promise.all(pids.map((pid) => roleOf(pid, dir)));
  return pids.filter((_, i) => roles[i] !== null);
}

/**
 * Clears the way past a lock file whose PID is no postmaster of `dir`; false while old server
 * processes still run. postgres itself replaces a file naming a dead PID, but refuses one naming any
 * live process (a reused PID), or an empty or garbled one: those we remove, unless it changed since we judged it (another
 * process got there first and a new server wrote its own).
 */
async function clearStale(dir: string, file: PidFile): Promise<boolean> {
  if (!(await procfs)) return true;
  if ((await orphans(dir)).length > 0) return false;
  const parsed = Number.isInteger(file.pid) && file.pid > 0;
  if (parsed && !isAlive(file.pid)) return true;
  if ((await readPidFile(dir))?.text === file.text) {
    await unlink(path.join(dir, LOCK_FILE)).catch(() => {});
  }
  return true;
}

/**
 * The server running on `dir` once it is ready, or null when none is (a stale lock file cleared).
 * Waits out a server that is starting or stopping, and old processes of a killed one.
 */
export async function settle(dir: string, timeoutMs: number): Promise<Postmaster | null> {
  const deadline = Date.now() + timeoutMs;
  let emptySince = 0;
  for (;;) {
    const file = await readPidFile(dir);
    if (file === null) return null;
    // A starting postmaster creates the file, then writes it; empty for longer is a crash's remnant.
    emptySince = file.text === '' ? emptySince || Date.now() : 0;
    const beingWritten = emptySince > 0 && Date.now() - emptySince < 1000;
    if (await isPostmaster(file.pid, dir)) {
      if (file.status === 'ready' && file.port > 0) return { pid: file.pid, port: file.port };
    } else if (!beingWritten && (await clearStale(dir, file))) {
      return null;
    }
    if (Date.now() > deadline) {
      throw new Error(`PostgreSQL in ${dir} neither became ready nor went away (PID ${file.pid || '?'})`);
    }
    await sleep(100);
  }
}
