import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { pollUntil } from './poll.js';
import { DIST, type RunningMain } from './process.js';

/** Node options for runMain that make the server answer heapProbe (test/helpers/heap-probe-preload.ts). */
export const HEAP_PROBE_NODE_ARGS: readonly string[] = [
  '--expose-gc',
  `--import=${pathToFileURL(path.join(DIST, 'test/helpers/heap-probe-preload.js')).href}`,
];

export interface HeapAfterGc {
  /** V8 heap in use after a full collection, and memory outside it held by JS objects (Buffers). */
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  rss: number;
}

function probesIn(stderr: readonly string[]): HeapAfterGc[] {
  return stderr
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{"heapProbe":'))
    .map((l) => (JSON.parse(l) as { heapProbe: HeapAfterGc }).heapProbe);
}

/** Has a server started with HEAP_PROBE_NODE_ARGS collect garbage, and returns what survived. */
export async function heapProbe(server: RunningMain, timeoutMs = 10_000): Promise<HeapAfterGc> {
  const before = probesIn(server.stderr).length;
  server.child.kill('SIGUSR2');
  const probes = await pollUntil(
    async () => probesIn(server.stderr),
    (ps) => ps.length > before,
    timeoutMs,
  );
  const probe = probes[before];
  if (!probe) throw new Error(`no heap probe answer within ${timeoutMs} ms: ${server.stderr.join('')}`);
  return probe;
}
