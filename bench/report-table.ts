/** Turns the rounds' measurements into the markdown table of docs/benchmarks.md. */
import type { LoadResult } from './load-generator.js';
import { median } from './stats.js';

export interface Measurement extends LoadResult {
  readonly target: string;
  readonly connections: number;
  readonly round: number;
  /** Which of the row's processes ran it (0-based; BENCH_PROCESSES). */
  readonly copy: number;
  /** Its place in the run's order of measured runs: which baseline runs were its neighbours in time. */
  readonly seq: number;
  /** CPU time of the proxy process during the run, in ms. */
  readonly cpuMs: number;
  /** The proxy's resident set size right after the run. */
  readonly rssMiB: number;
  /** What an access-logged gateway wrote to its log file during the run. */
  readonly accessLog?: { lines: number; bytes: number };
}


export interface Row {
  target: string;
  connections: number;
  rpsMedian: number;
  rpsMin: number;
  rpsMax: number;
  p50: number;
  p99: number;
  cpuUsPerRequest: number;
  /** CPU seconds per wall second: 1.0 = one core saturated. */
  cpuUtilisation: number;
  /** Highest RSS seen after a run. */
  rssMiB: number;
  /** Median over rounds of (this rps / baseline rps next to it in time, see baselineNeighbours). */
  rpsRatio?: number;
  p99Ratio?: number;
}

/** The proxy's CPU time per answered request in one run, in µs. */
export function cpuUsPerRequest(m: Pick<Measurement, 'cpuMs' | 'requests'>): number {
  return (m.cpuMs * 1000) / m.requests;
}

export function summarise(measurements: readonly Measurement[], baseline: string): Row[] {
  const keys = [...new Set(measurements.map((m) => `${m.connections}|${m.target}`))];
  const rows: Row[] = [];
  for (const key of keys) {
    const [c, target] = key.split('|') as [string, string];
    const connections = Number(c);
    const runs = measurements.filter((m) => m.target === target && m.connections === connections);
    const rps = runs.map((m) => m.rps);
    const row: Row = {
      target,
      connections,
      rpsMedian: median(rps),
      rpsMin: Math.min(...rps),
      rpsMax: Math.max(...rps),
      p50: median(runs.map((m) => m.p50)),
      p99: median(runs.map((m) => m.p99)),
      cpuUsPerRequest: median(runs.map(cpuUsPerRequest)),
      cpuUtilisation: median(runs.map((m) => m.cpuMs / 1000 / m.durationS)),
      rssMiB: Math.max(...runs.map((m) => m.rssMiB)),
    };
    if (target !== baseline) {
      const paired = runs.flatMap((m) => {
        const bases = baselineNeighbours(measurements, baseline, m);
        if (bases.length === 0) return [];
        const mean = (f: (b: Measurement) => number) => bases.reduce((sum, b) => sum + f(b), 0) / bases.length;
        return [{ rps: m.rps / mean((b) => b.rps), p99: m.p99 / mean((b) => b.p99) }];
      });
      if (paired.length > 0) {
        row.rpsRatio = median(paired.map((p) => p.rps));
        row.p99Ratio = median(paired.map((p) => p.p99));
      }
    }
    rows.push(row);
  }
  return rows.sort((a, b) => a.connections - b.connections);
}

/**
 * The baseline runs a run is compared with: of the baseline's runs in the same round at the same
 * connection count, the last one before it and the first one after it. With one baseline run a round
 * (BENCH_PAIRING=round) that is that run; with one between every two rows (adjacent) it is the two
 * runs on either side, seconds away, so a slow spell of the host that spans them weighs on both sides
 * of the ratio alike.
 */
export function baselineNeighbours(measurements: readonly Measurement[], baseline: string, run: Measurement): Measurement[] {
  const same = measurements
    .filter((b) => b.target === baseline && b.connections === run.connections && b.round === run.round)
    .sort((x, y) => x.seq - y.seq);
  const before = same.findLast((b) => b.seq < run.seq);
  const after = same.find((b) => b.seq > run.seq);
  return [before, after].filter((b): b is Measurement => b !== undefined);
}

export function markdownTable(rows: readonly Row[]): string {
  const lines = [
    '| proxy | conns | req/s median (min–max) | p50 ms | p99 ms | CPU µs/req | CPU cores used | RSS MiB (max) | req/s ÷ bare | p99 ÷ bare |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.target} | ${r.connections} | ${fmt(r.rpsMedian)} (${fmt(r.rpsMin)}–${fmt(r.rpsMax)}) | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ` +
        `${r.cpuUsPerRequest.toFixed(0)} | ${r.cpuUtilisation.toFixed(2)} | ${r.rssMiB.toFixed(0)} | ${r.rpsRatio?.toFixed(2) ?? '—'} | ${r.p99Ratio?.toFixed(2) ?? '—'} |`,
    );
  }
  return lines.join('\n');
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
