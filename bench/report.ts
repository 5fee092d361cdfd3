/**
 * What a benchmark returns as data, and the markdown section `npm run bench` appends to BENCHMARKS.md
 * from those of a whole run. Pure: bench/run.ts measures and writes, this only shapes and renders.
 */

/** What a figure should be; a row may carry several conditions, each judged on its own. */
export interface Target {
  /** Ours must be under this (latencies, memory, durations). */
  below?: number;
  /** Ours must reach this (throughputs). */
  atLeast?: number;
  /** Ours / baseline must reach this. */
  ratioAtLeast?: number;
}

export interface BenchRow {
  figure: string;
  ours: number;
  unit: string;
  /** The same figure of the baseline, measured in the same run. */
  baseline?: number;
  /** Ours / baseline, where there is a baseline. */
  ratio?: number;
  target?: Target;
}

/** The machine's speed at a moment (bench/lib.ts `fsyncMicros`, `cpuProbeMs`): it varies from day to day. */
export interface MachineProbe {
  fsyncMicros: number;
  cpuProbeMs: number;
}

export interface BenchReport {
  rows: BenchRow[];
  /** What the baseline column holds, when rows have one. */
  baseline?: string;
  notes?: string[];
  /** The probes taken when its PostgreSQL cluster started, if it has one. */
  machine?: MachineProbe;
}

export type BenchOutcome =
  | { name: string; seconds: number; report: BenchReport }
  | { name: string; seconds: number; error: string };

export interface RunRecord {
  startedAt: Date;
  /** The command line as typed, environment knobs included. */
  command: string;
  /** Title of the section: the command without its environment. */
  title: string;
  seconds: number;
  machine: { cores: number; model: string; memoryBytes: number; node: string; probe: MachineProbe };
  outcomes: BenchOutcome[];
}

/** A row, with its ratio computed when there is a baseline. */
export function row(
  figure: string,
  ours: number,
  unit: string,
  opts: { baseline?: number | undefined; target?: Target } = {},
): BenchRow {
  const r: BenchRow = { figure, ours, unit };
  if (opts.baseline !== undefined) {
    r.baseline = opts.baseline;
    r.ratio = ours / opts.baseline;
  }
  if (opts.target) r.target = opts.target;
  return r;
}

// Reports come back from a child process as JSON, where NaN and Infinity have become null.
const finite = (x: number | null | undefined): x is number => typeof x === 'number' && Number.isFinite(x);

/** 2,851 / 42.8 / 0.23: three significant figures or so, with thousands separated, as BENCHMARKS.md writes them. */
export function formatNumber(x: number | null | undefined): string {
  if (!finite(x)) return 'n/a';
  const abs = Math.abs(x);
  const digits = Number.isInteger(x) || abs >= 100 ? 0 : abs >= 10 ? 1 : 2;
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

const withUnit = (x: number | null | undefined, unit: string) =>
  finite(x) && unit ? `${formatNumber(x)} ${unit}` : formatNumber(x);

const formatRatio = (x: number | null | undefined) => (finite(x) ? x.toFixed(2) : 'n/a');

/** Each condition of a target beside its verdict: `≥ 2,000 req/s: met; ratio ≥ 0.70: **missed**`. */
function renderTarget(r: BenchRow): string {
  const t = r.target;
  if (!t) return '';
  const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');
  const parts: string[] = [];
  if (t.below !== undefined)
    parts.push(`< ${withUnit(t.below, r.unit)}: ${verdict(finite(r.ours) && r.ours < t.below)}`);
  if (t.atLeast !== undefined)
    parts.push(`≥ ${withUnit(t.atLeast, r.unit)}: ${verdict(finite(r.ours) && r.ours >= t.atLeast)}`);
  if (t.ratioAtLeast !== undefined) {
    const text = `ratio ≥ ${t.ratioAtLeast.toFixed(2)}`;
    parts.push(finite(r.ratio) ? `${text}: ${verdict(r.ratio >= t.ratioAtLeast)}` : `${text}: no baseline`);
  }
  return parts.join('; ');
}

const cell = (text: string) => text.replaceAll('|', '\\|');

/** The table of one report; the baseline and ratio columns only when some row has a baseline. */
export function renderTable(report: BenchReport): string {
  const withBaseline = report.rows.some((r) => r.baseline !== undefined);
  const withTarget = report.rows.some((r) => r.target !== undefined);
  const head = ['figure', 'ours', ...(withBaseline ? ['baseline', 'ours / baseline'] : [])];
  const align = ['---', '---:', ...(withBaseline ? ['---:', '---:'] : [])];
  if (withTarget) {
    head.push('target');
    align.push('---');
  }
  const lines = [`| ${head.join(' | ')} |`, `| ${align.join(' | ')} |`];
  for (const r of report.rows) {
    const cells = [cell(r.figure), withUnit(r.ours, r.unit)];
    if (withBaseline)
      cells.push(
        r.baseline === undefined ? '' : withUnit(r.baseline, r.unit),
        r.baseline === undefined ? '' : formatRatio(r.ratio),
      );
    if (withTarget) cells.push(renderTarget(r));
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** 75 s → `1 min 15 s`; under a minute, `12.3 s`. */
export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - 60 * m)} s`;
}

const probeText = (p: MachineProbe) =>
  `write + fdatasync of 8 KiB ${formatNumber(p.fsyncMicros)} µs, SHA-256 of 64 MiB ${formatNumber(p.cpuProbeMs)} ms`;

const pad2 = (n: number) => String(n).padStart(2, '0');

/** `2026-12-02 14:05 UTC` */
export function formatUtc(d: Date): string {
  return (
    `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())} UTC`
  );
}

/** The section of BENCHMARKS.md for one run: heading, command, machine, then one table per benchmark. */
export function renderRun(run: RunRecord): string {
  const m = run.machine;
  const failed = run.outcomes.filter((o) => 'error' in o).map((o) => o.name);
  const out = [
    `## Run of ${formatUtc(run.startedAt)}: ${run.title}`,
    '',
    `- command: \`${run.command}\`, ${formatSeconds(run.seconds)} in all` +
      (failed.length ? `; **failed: ${failed.join(', ')}**` : ''),
    `- machine: ${m.cores} cores (${m.model}), ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB of memory, Node ${m.node}`,
    `- machine speed at the start: ${probeText(m.probe)}`,
  ];
  for (const o of run.outcomes) {
    out.push('');
    if ('error' in o) {
      // A fence longer than any run of backticks in the message, so nothing in it can close it.
      const fence = '`'.repeat(Math.max(3, ...[...o.error.matchAll(/`+/g)].map((x) => x[0].length + 1)));
      out.push(
        `### ${o.name}: **failed** after ${formatSeconds(o.seconds)}`,
        '',
        fence,
        o.error.trim(),
        fence,
      );
      continue;
    }
    const r = o.report;
    out.push(`### ${o.name} (${formatSeconds(o.seconds)})`, '');
    if (r.machine) out.push(`Machine speed at its start: ${probeText(r.machine)}.`, '');
    if (r.baseline) out.push(`Baseline: ${r.baseline}.`, '');
    out.push(r.rows.length ? renderTable(r) : 'No figures.');
    if (r.notes?.length) out.push('', ...r.notes.map((n) => `- ${n}`));
  }
  return `${out.join('\n')}\n`;
}
