import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The compiled checkout (dist/), where the scripts child processes run are. */
export const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MAIN = path.join(DIST, 'src/main.js');

export interface RunningMain {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** Resolves with the first JSON log line whose msg matches. */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Like `exited`, once its output is read to the end too (every line in stdout). */
  finished: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface RunOptions {
  cwd: string;
  /** The whole environment besides PATH and HOME: nothing of the test process leaks in. */
  env: Record<string, string>;
  args?: readonly string[];
  /** Node's own options, before the script (a test probe's preload, say). */
  nodeArgs?: readonly string[];
}

/** Runs `node dist/src/main.js` (what `npm start` runs) as a child process. */
export function runMain(opts: RunOptions): RunningMain {
  return runScript(MAIN, opts);
}

/** Runs a compiled script (a path below DIST) as a child process, its output collected line by line. */
export function runScript(script: string, opts: RunOptions): RunningMain {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/',
    ...opts.env,
  };
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), script, ...(opts.args ?? [])], {
    cwd: opts.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters: { msg: string; resolve: (v: Record<string, unknown>) => void }[] = [];
  let buffered = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      stdout.push(line);
      if (!line.startsWith('{')) continue;
      const rec = JSON.parse(line) as Record<string, unknown>;
      for (const w of waiters.filter((x) => x.msg === rec.msg)) w.resolve(rec);
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')));
  child.stdout?.on('end', () => {
    if (buffered) stdout.push(buffered);
    buffered = '';
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const finished = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stdout,
    stderr,
    exited,
    finished,
    waitForLog(msg, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`no "${msg}" log line within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push({
          msg,
          resolve: (v) => {
            clearTimeout(t);
            resolve(v);
          },
        });
        void exited.then(({ code }) =>
          reject(new Error(`exited with ${code} before "${msg}": ${stderr.join('')}`)),
        );
      });
    },
  };
}

/**
 * `err` as it is when the process still runs; when it has exited, an error that says how and shows the
 * last lines it wrote, since a dead server is then the story and the refused connection only its echo.
 */
export function withExitStory(run: RunningMain, err: unknown): unknown {
  const { exitCode, signalCode } = run.child;
  if (exitCode === null && signalCode === null) return err;
  const tail = [...run.stdout, ...run.stderr.join('').split('\n')].filter(Boolean).slice(-30);
  return new Error(
    `the process exited (${signalCode ?? `code ${exitCode}`}); its last lines:\n${tail.join('\n')}`,
    { cause: err },
  );
}

const CLI_DIR = path.join(DIST, 'src/cli');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a compiled command-line tool (`node dist/src/cli/<name>.js`, what its npm script runs) to its end. */
export function runCli(
  name: string,
  args: readonly string[],
  opts: { cwd: string; env: Record<string, string> },
): Promise<CliResult> {
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/', ...opts.env };
  const child = spawn(process.execPath, [path.join(CLI_DIR, `${name}.js`), ...args], {
    cwd: opts.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A TCP port free on loopback right now, for a server that must keep its port across restarts. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return address.port;
}

/** Processes whose command line mentions the directory (the embedded server's -D argument, say). */
export async function processesUsing(dir: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)('ps', ['-eo', 'pid,args']);
  return stdout.split('\n').filter((l) => l.includes(dir) && !l.includes('ps -eo'));
}
