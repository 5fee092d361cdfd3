import { type ChildProcess, execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

export interface RunningMain {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** Resolves with the first JSON log line whose msg matches. */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs `node dist/src/main.js` (what `npm start` runs) as a child process, or `script`: another entry
 * point, relative to dist/src (`db/migrate-cli.js` for `npm run migrate`) or absolute.
 */
export function runMain(opts: { cwd: string; env: Record<string, string>; script?: string }): RunningMain {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/',
    ...opts.env,
  };
  const child = spawn(process.execPath, [path.resolve(SRC, opts.script ?? 'main.js')], {
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
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stdout,
    stderr,
    exited,
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

/** Processes whose command line mentions the directory (the embedded server's -D argument, say). */
export async function processesUsing(dir: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)('ps', ['-eo', 'pid,args']);
  return stdout.split('\n').filter((l) => l.includes(dir) && !l.includes('ps -eo'));
}
