/**
 * Preloaded into a server process under test (`node --expose-gc --import <this file>`, see
 * heapProbe in heap-probe.ts), never into production: on SIGUSR2 it collects garbage and writes what
 * survived as one line on stderr. A leak is memory still reachable after a full collection; how much
 * garbage V8 lets pile up before collecting (which differs between Node versions) is not one.
 */
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('heap-probe-preload needs --expose-gc');

process.on('SIGUSR2', () => {
  // Twice: the first may leave objects that finalizers or weak callbacks let go of only afterwards.
  gc();
  gc();
  const { heapUsed, external, arrayBuffers, rss } = process.memoryUsage();
  // Synchronous for a pipe on Linux: the line is whole before the next event runs.
  process.stderr.write(`${JSON.stringify({ heapProbe: { heapUsed, external, arrayBuffers, rss } })}\n`);
});
