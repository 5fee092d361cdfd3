/**
 * The soak's leak check (soak.test.ts). Its figure is what the server still holds after a full
 * garbage collection, the V8 heap in use plus the memory outside it that JS objects keep (Buffers),
 * probed every tenth of the run under load (test/helpers/heap-probe.ts). That figure says if memory
 * is leaking. RSS does not: it follows how much garbage V8 lets pile up before collecting, and that
 * differs between Node versions. In a 2-minute soak without probes, Node 24's server went from 259
 * to 337 MiB of RSS while its old space fell back to 26-28 MiB at every full collection, the same
 * floor as Node 20's, whose RSS stayed flat.
 */

export interface RetainedProbe {
  /** Deliveries answered so far. */
  delivered: number;
  /** Heap used plus external memory after a full collection, in bytes. */
  retained: number;
}

/**
 * Growth the check forgives. A 1 MiB step comes and goes between probes without any leak (seen:
 * 37.4 -> 36.0 MiB within one run), and the probe itself lands while requests are in flight. So 2 MiB,
 * plus 128 bytes per delivery for in-flight work that grows with the rate.
 */
export const RETAINED_SLACK_BYTES = 2 * 2 ** 20;
export const RETAINED_BYTES_PER_DELIVERY = 128;
/** The leak the soak must catch: 1 KiB kept per delivery. */
export const LEAK_TO_CATCH_BYTES = 1024;

export interface RetainedGrowth {
  /** Deliveries from the first probe to the last. */
  deliveries: number;
  /** Rise of the least-squares line through the probes over those deliveries, in bytes. */
  rise: number;
  /** What the check allows over those deliveries. */
  allowed: number;
  /** Fewest deliveries over which LEAK_TO_CATCH_BYTES per delivery exceeds the allowance. */
  neededToCatch: number;
}

/**
 * The trend of retained memory against deliveries. It uses a line through every probe, so one probe
 * that lands on a busy moment moves it less than a comparison of the first and last probes would.
 */
export function retainedGrowth(probes: readonly RetainedProbe[]): RetainedGrowth {
  if (probes.length < 2) throw new Error('at least two probes');
  const n = probes.length;
  const mx = probes.reduce((a, p) => a + p.delivered, 0) / n;
  const my = probes.reduce((a, p) => a + p.retained, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of probes) {
    sxy += (p.delivered - mx) * (p.retained - my);
    sxx += (p.delivered - mx) ** 2;
  }
  const deliveries = (probes.at(-1) as RetainedProbe).delivered - (probes[0] as RetainedProbe).delivered;
  const slope = sxx === 0 ? 0 : sxy / sxx;
  return {
    deliveries,
    rise: slope * deliveries,
    allowed: RETAINED_SLACK_BYTES + RETAINED_BYTES_PER_DELIVERY * deliveries,
    neededToCatch: Math.ceil(RETAINED_SLACK_BYTES / (LEAK_TO_CATCH_BYTES - RETAINED_BYTES_PER_DELIVERY)),
  };
}
