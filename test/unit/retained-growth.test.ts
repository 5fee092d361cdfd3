import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type RetainedProbe, retainedGrowth } from '../reliability/memory.js';

const MiB = 2 ** 20;
const probes = (series: readonly [number, number][]): RetainedProbe[] =>
  series.map(([delivered, mib]) => ({ delivered, retained: mib * MiB }));
/** The same probes, with `bytes` more kept for every delivery so far. */
const leaking = (ps: readonly RetainedProbe[], bytes: number): RetainedProbe[] =>
  ps.map((p) => ({ delivered: p.delivered, retained: p.retained + bytes * p.delivered }));
const passes = (ps: readonly RetainedProbe[]) => {
  const g = retainedGrowth(ps);
  return g.deliveries >= g.neededToCatch && g.rise < g.allowed;
};

// Soaks of the server measured on this machine, one on each Node (MiB after collection, by deliveries).
const NODE_20 = probes([
  [624, 37.4],
  [1243, 37.54],
  [1863, 37.69],
  [2484, 37.76],
  [3111, 37.33],
  [3727, 36.73],
  [4353, 36.82],
  [4978, 36.96],
  [5599, 36.78],
]);
const NODE_24 = probes([
  [1295, 43.09],
  [2594, 43.14],
  [3877, 43.5],
  [5175, 43.27],
  [6476, 42.16],
  [7738, 41.93],
  [9066, 42.08],
  [10361, 42.05],
  [11656, 42.37],
]);

describe('the soak leak check (retainedGrowth)', () => {
  it('passes the soaks measured on Node 20 and Node 24', () => {
    assert.ok(passes(NODE_20), JSON.stringify(retainedGrowth(NODE_20)));
    assert.ok(passes(NODE_24), JSON.stringify(retainedGrowth(NODE_24)));
  });

  it('fails those soaks with 1 KiB kept per delivery', () => {
    assert.ok(!passes(leaking(NODE_20, 1024)), JSON.stringify(retainedGrowth(leaking(NODE_20, 1024))));
    assert.ok(!passes(leaking(NODE_24, 1024)), JSON.stringify(retainedGrowth(leaking(NODE_24, 1024))));
  });

  it('forgives a 1 MiB step that stays', () => {
    const step = NODE_20.map((p, i) => ({ ...p, retained: p.retained + (i >= 4 ? MiB : 0) }));
    assert.ok(passes(step), JSON.stringify(retainedGrowth(step)));
  });

  it('fails a run with too few deliveries to tell a 1 KiB leak, however flat', () => {
    const slow = NODE_20.map((p) => ({ ...p, delivered: Math.floor(p.delivered / 3) }));
    const g = retainedGrowth(slow);
    assert.ok(g.deliveries < g.neededToCatch && !passes(slow), JSON.stringify(g));
  });

  it('catches 1 KiB per delivery from the fewest deliveries it accepts on', () => {
    const { neededToCatch } = retainedGrowth(NODE_20);
    const flat = Array.from({ length: 9 }, (_, i) => ({
      delivered: Math.round((i * neededToCatch) / 8),
      retained: 40 * MiB,
    }));
    assert.ok(passes(flat));
    assert.ok(!passes(leaking(flat, 1024)), JSON.stringify(retainedGrowth(leaking(flat, 1024))));
  });
});
