import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type BenchReport,
  formatNumber,
  formatSeconds,
  formatUtc,
  type RunRecord,
  renderRun,
  renderTable,
  row,
} from '../../bench/report.js';

const machine: RunRecord['machine'] = {
  cores: 2,
  model: 'AMD EPYC',
  memoryBytes: 24 * 2 ** 30,
  node: 'v20.20.2',
  probe: { fsyncMicros: 104, cpuProbeMs: 180 },
};

const ingest: BenchReport = {
  baseline: 'the bare receiver with our commit queue',
  machine: { fsyncMicros: 97, cpuProbeMs: 176 },
  rows: [
    row('1 notification, max rate', 2851.4, 'req/s', { baseline: 4160, target: { atLeast: 2000 } }),
    row('same, to one transaction per delivery', 2851.4, 'req/s', {
      baseline: 1585,
      target: { ratioAtLeast: 0.7 },
    }),
    row('1,000/s evenly, p99', 61, 'ms', { baseline: 46, target: { below: 50 } }),
    row('same, server CPU per delivery', 0.234, 'ms', { baseline: 0.141 }),
  ],
  notes: ['ours, single run: 3 non-2xx answers, 0 errors'],
};

describe('bench report', () => {
  it('computes the ratio to the baseline, and none without one', () => {
    assert.equal(row('x', 3, 'req/s', { baseline: 4 }).ratio, 0.75);
    assert.deepEqual(row('x', 3, 'ms'), { figure: 'x', ours: 3, unit: 'ms' });
  });

  it('writes figures as BENCHMARKS.md does', () => {
    assert.equal(formatNumber(20_000), '20,000');
    assert.equal(formatNumber(2851.4), '2,851');
    assert.equal(formatNumber(42.83), '42.8');
    assert.equal(formatNumber(0.234), '0.23');
    assert.equal(formatNumber(Number.NaN), 'n/a');
    // What NaN becomes on its way back from a child process as JSON.
    assert.equal(formatNumber(null), 'n/a');
    assert.equal(formatSeconds(12.34), '12.3 s');
    assert.equal(formatSeconds(75), '1 min 15 s');
    assert.equal(formatUtc(new Date('2026-12-02T04:05:59Z')), '2026-12-02 04:05 UTC');
  });

  it('renders each figure beside its baseline, the ratio and each target with its verdict', () => {
    assert.equal(
      renderTable(ingest),
      [
        '| figure | ours | baseline | ours / baseline | target |',
        '| --- | ---: | ---: | ---: | --- |',
        '| 1 notification, max rate | 2,851 req/s | 4,160 req/s | 0.69 | ≥ 2,000 req/s: met |',
        '| same, to one transaction per delivery | 2,851 req/s | 1,585 req/s | 1.80 | ratio ≥ 0.70: met |',
        '| 1,000/s evenly, p99 | 61 ms | 46 ms | 1.33 | < 50 ms: **missed** |',
        '| same, server CPU per delivery | 0.23 ms | 0.14 ms | 1.66 |  |',
      ].join('\n'),
    );
  });

  it('leaves out the baseline and target columns when no row has one, and judges several conditions', () => {
    assert.equal(
      renderTable({ rows: [row('p50', 42.8, 'ms'), row('a | b', 1, '')] }),
      ['| figure | ours |', '| --- | ---: |', '| p50 | 42.8 ms |', '| a \\| b | 1 |'].join('\n'),
    );
    assert.equal(
      renderTable({
        rows: [
          row('max rate', 1900, 'req/s', { baseline: 3800, target: { atLeast: 2000, ratioAtLeast: 0.7 } }),
        ],
      }).split('\n')[2],
      '| max rate | 1,900 req/s | 3,800 req/s | 0.50 | ≥ 2,000 req/s: **missed**; ratio ≥ 0.70: **missed** |',
    );
    // A ratio target without a baseline measured (a run of one target only) cannot be judged.
    assert.equal(
      renderTable({ rows: [row('req/s', 3000, 'req/s', { target: { ratioAtLeast: 0.7 } })] }).split('\n')[2],
      '| req/s | 3,000 req/s | ratio ≥ 0.70: no baseline |',
    );
  });

  it('renders a whole run: heading, command, machine, a table per benchmark, a failed one as such', () => {
    const text = renderRun({
      startedAt: new Date('2026-12-02T14:05:00Z'),
      command: 'BENCH_DURATION=2 npm run bench',
      title: 'npm run bench',
      seconds: 843,
      machine,
      outcomes: [
        { name: 'ingest', seconds: 95.2, report: ingest },
        { name: 'feed', seconds: 12, error: 'Error: webhook answered 503\n```nested fence```' },
        {
          name: 'enroll',
          seconds: 8,
          report: { rows: [row('p50', 42.8, 'ms', { target: { below: 100 } })] },
        },
      ],
    });
    assert.equal(
      text,
      `## Run of 2026-12-02 14:05 UTC: npm run bench

- command: \`BENCH_DURATION=2 npm run bench\`, 14 min 3 s in all; **failed: feed**
- machine: 2 cores (AMD EPYC), 24.0 GiB of memory, Node v20.20.2
- machine speed at the start: write + fdatasync of 8 KiB 104 µs, SHA-256 of 64 MiB 180 ms

### ingest (1 min 35 s)

Machine speed at its start: write + fdatasync of 8 KiB 97 µs, SHA-256 of 64 MiB 176 ms.

Baseline: the bare receiver with our commit queue.

${renderTable(ingest)}

- ours, single run: 3 non-2xx answers, 0 errors

### feed: **failed** after 12.0 s

\`\`\`\`
Error: webhook answered 503
\`\`\`nested fence\`\`\`
\`\`\`\`

### enroll (8.0 s)

| figure | ours | target |
| --- | ---: | --- |
| p50 | 42.8 ms | < 100 ms: met |
`,
    );
  });
});
