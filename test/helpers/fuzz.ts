/** Plumbing shared by the fuzz tests (test/reliability/fuzz-*.test.ts): raw HTTP, scale, memory. */
import { readFile } from 'node:fs/promises';
import http from 'node:http';

/** Whether `npm run test:reliability` runs this (full scale) rather than plain `npm test` (fast cases). */
export const FULL = process.env.RELIABILITY_FULL === '1';

/** `fast` under plain `npm test`, `full` under `npm run test:reliability`. */
export function scale(fast: number, full: number): number {
  return FULL ? full : fast;
}

export interface RawAnswer {
  status: number;
  text: string;
}

/**
 * POSTs exactly these headers, in this order and case, duplicates kept (fetch would merge and
 * lowercase them). Host and Content-Length are added, as node adds none to a raw header list.
 */
export function rawPost(
  agent: http.Agent,
  url: URL,
  body: Buffer,
  headers: readonly (readonly [string, string])[],
): Promise<RawAnswer> {
  const flat = [...headers.flat(), 'host', url.host, 'content-length', String(body.length)];
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: flat }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Resident set size of a process, in bytes, from /proc/<pid>/status (Linux). */
export async function vmRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (!kb) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb) * 1024;
}

/**
 * What leaks an internal detail when found in an answer: a stack frame, a source path, SQL, the
 * driver's words. Case-sensitive: GraphQL messages say "select" in lowercase, SQL is written in capitals.
 */
export const INTERNAL_DETAIL =
  /\n\s+at |\bat [\w.<>]+ \(|node:internal|\/dist\/|\.js:\d+|QueryFailedError|\bSELECT\b|\bINSERT INTO\b|syntax error at or near|\brelation "|duplicate key value|stacktrace/;
