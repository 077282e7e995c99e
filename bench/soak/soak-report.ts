/**
 * The soak's numbers as markdown: the totals and the musts (sessions lost,
 * refreshes per expiry, refresh-token reuse, WebSockets re-established,
 * replicas flat after warm-up), then per event: answers by status and the
 * longest run of 503s.
 */
import type { CommittedHeapSample, LiveHeapSample } from './gc-trace.js';
import { median } from '../stats.js';
import { Histogram } from './histogram.js';
import type { HeldWebSockets } from './held-websockets.js';
import type { ProcessSampler } from './process-sampler.js';
import type { RefreshSummary } from './provider-ledger.js';
import type { SoakSession } from './soak-sessions.js';
import type { Timeline } from './timeline.js';

export interface SoakReportInput {
  readonly heading: string;
  readonly parameters: string;
  readonly timeline: Timeline;
  readonly sessions: readonly SoakSession[];
  readonly refreshes: RefreshSummary;
  /** The load ran for more than two token lifetimes: every session must have been refreshed at least once. */
  readonly everySessionRefreshes: boolean;
  readonly refusedRefreshes: ReadonlyMap<string, number>;
  readonly websockets: HeldWebSockets;
  readonly websocketCount: number;
  readonly websocketsOpenAtEnd: number;
  readonly processes: ProcessSampler;
  /** Live heap after each full GC, by pid (gc-trace.ts). */
  readonly liveHeap: ReadonlyMap<number, readonly LiveHeapSample[]>;
  /** V8's committed heap after every GC, by pid (gc-trace.ts): RSS growing while this stays flat is native memory. */
  readonly committedHeap: ReadonlyMap<number, readonly CommittedHeapSample[]>;
  readonly warmupS: number;
  readonly redis: { usedBytesBefore: number; usedBytesAfter: number; keys: number };
  readonly skipped: number;
  readonly svgFile: string;
}

export interface SoakVerdict {
  readonly markdown: string;
  readonly failed: string[];
}

const count = (m: ReadonlyMap<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
const listed = (m: ReadonlyMap<string, number>) =>
  m.size === 0 ? '—' : [...m].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}: ${v}`).join(', ');
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const signed = (x: number) => `${x >= 0 ? '+' : ''}${pct(x)}`;

/** Longest stretch of 503s where no two were more than a second apart: ms from first to last, and how many. */
export function longest503Window(times: readonly number[]): { ms: number; count: number } {
  const sorted = [...times].sort((a, b) => a - b);
  let best = { ms: 0, count: 0 };
  let start = 0;
  for (let i = 0; i < sorted.length; i++) {
    if (i > 0 && sorted[i]! - sorted[i - 1]! > 1000) start = i;
    const window = { ms: sorted[i]! - sorted[start]!, count: i - start + 1 };
    if (window.ms > best.ms || (window.ms === best.ms && window.count > best.count)) best = window;
  }
  return best;
}

interface Flatness {
  replica: number;
  pid: number;
  samples: number;
  rssMb: [number, number, number];
  rssDev: number;
  fds: [number, number, number];
  fdsDev: number;
  /** Share of one core over the sampled span. */
  cpu: number;
  /** The end of the process's life against its start after warm-up (drift()): a leak drifts. */
  rssDrift: number;
  /** Live heap after full GCs past warm-up: count, first-quarter and last-quarter medians (MiB), drift. */
  live: { count: number; first: number; last: number; drift: number } | undefined;
  /** V8's committed heap past warm-up: first-quarter and last-quarter medians (MiB), drift. */
  committed: { first: number; last: number; drift: number } | undefined;
  fdsDrift: number;
  /** The same for the fds that are not an established connection (connections follow the load, not a leak). */
  otherFds: [number, number, number];
  otherFdsDrift: number;
}

/** The first and last quarter of the samples (at least three each), by their medians. */
function ends(xs: readonly number[]): [number, number] {
  const n = Math.max(3, Math.floor(xs.length / 4));
  return [median(xs.slice(0, n)), median(xs.slice(-n))];
}

/**
 * The last quarter's median against the first quarter's, as a share of the
 * latter. RSS swings by ±10–20 % within a replica's life with GC's sawtooth,
 * so three samples at each end (the first version of this check) judged
 * where in a swing the run happened to end rather than a trend.
 */
function quarterDrift(xs: readonly number[]): { first: number; last: number; drift: number } {
  const [first, last] = ends(xs);
  return { first, last, drift: (last - first) / Math.max(1, first) };
}

export function drift(xs: readonly number[]): number {
  return quarterDrift(xs).drift;
}

function flatness(processes: ProcessSampler, liveHeap: SoakReportInput['liveHeap'], committedHeap: SoakReportInput['committedHeap'], warmupS: number): Flatness[] {
  const byPid = new Map<number, typeof processes.samples>();
  for (const s of processes.samples) {
    if (s.t < processes.firstSeen.get(s.pid)! + warmupS) continue;
    byPid.set(s.pid, [...(byPid.get(s.pid) ?? []), s]);
  }
  const stats = (xs: number[]): [[number, number, number], number] => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = median(sorted);
    const dev = Math.max(mid - sorted[0]!, sorted.at(-1)! - mid) / mid;
    return [[sorted[0]!, mid, sorted.at(-1)!], dev];
  };
  return [...byPid].filter(([, s]) => s.length >= 3).map(([pid, s]) => {
    const [rss, rssDev] = stats(s.map((x) => x.rssKb / 1024));
    const [fds, fdsDev] = stats(s.map((x) => x.fds));
    const cpu = (s.at(-1)!.cpuMs - s[0]!.cpuMs) / 1000 / Math.max(1e-9, s.at(-1)!.t - s[0]!.t);
    const other = s.map((x) => x.fds - x.connections);
    // The trace's clock starts with the process, which for the first replicas was minutes before the load.
    const from = processes.firstSeen.get(pid)! + warmupS - (processes.startedAt.get(pid) ?? processes.firstSeen.get(pid)!);
    const heap = (liveHeap.get(pid) ?? []).filter((h) => h.t >= from).map((h) => h.liveMb);
    const committed = (committedHeap.get(pid) ?? []).filter((h) => h.t >= from).map((h) => h.committedMb);
    return {
      replica: s[0]!.replica, pid, samples: s.length, rssMb: rss, rssDev, fds, fdsDev, cpu,
      rssDrift: drift(s.map((x) => x.rssKb)), fdsDrift: drift(s.map((x) => x.fds)),
      otherFds: stats(other)[0], otherFdsDrift: drift(other),
      live: heap.length >= 6 ? { count: heap.length, ...quarterDrift(heap) } : undefined,
      committed: committed.length >= 6 ? quarterDrift(committed) : undefined,
    };
  });
}

export function soakReport(input: SoakReportInput): SoakVerdict {
  const { timeline } = input;
  const failed: string[] = [];
  const statuses = new Map<string, number>();
  const all = new Histogram();
  for (const s of timeline.seconds) {
    for (const [k, v] of s.statuses) statuses.set(k, (statuses.get(k) ?? 0) + v);
    all.add(s.latency);
  }
  const total = count(statuses);
  const non2xx = new Map([...statuses].filter(([k]) => !k.startsWith('2')));
  const lost = input.sessions.filter((s) => s.lostAt !== undefined);
  const lostByEvent = new Map<string, number>();
  for (const s of lost) lostByEvent.set(s.lostEvent!, (lostByEvent.get(s.lostEvent!) ?? 0) + 1);
  if (lost.length > 0) failed.push(`sessions lost: ${lost.length}`);
  const r = input.refreshes;
  if (r.early > 0 || r.maxPerExpiry > 1) failed.push(`refreshes per expiry: ${r.early} early, max ${r.maxPerExpiry}`);
  if (r.reuseErrors > 0) failed.push(`refresh-token reuse errors: ${r.reuseErrors}`);
  // "Exactly one" per expiry: none at all would be a session whose token was never renewed.
  const neverRefreshed = input.sessions.length - r.sessionsRefreshed;
  if (input.everySessionRefreshes && neverRefreshed > 0) failed.push(`sessions never refreshed: ${neverRefreshed}`);
  const ws = input.websockets;
  const wsDropped = count(ws.dropped);
  if (input.websocketsOpenAtEnd < input.websocketCount) failed.push(`WebSockets open at the end: ${input.websocketsOpenAtEnd} of ${input.websocketCount}`);
  const flat = flatness(input.processes, input.liveHeap, input.committedHeap, input.warmupS);
  // Judged on drift, last against first: the spread also holds GC's sawtooth and connections moving with the load.
  // RSS fails only by growing: memory handed back after a stall (requests piled up during a pause) is no leak.
  const notFlat = flat.filter((f) => f.rssDrift > 0.1 || Math.abs(f.otherFdsDrift) > 0.1);
  if (notFlat.length) {
    failed.push(
      `replicas drifting beyond ±10 % after warm-up: ${notFlat.map((f) => `replica ${f.replica} pid ${f.pid} (RSS ${signed(f.rssDrift)}, fds other than connections ${signed(f.otherFdsDrift)})`).join(', ')}`,
    );
  }
  const sessionsCount = input.sessions.length;
  const redisPerSession = (input.redis.usedBytesAfter - input.redis.usedBytesBefore) / sessionsCount;
  const durationS = timeline.seconds.length;

  const md: string[] = [
    `### ${input.heading}`,
    '',
    input.parameters,
    '',
    `![requests/s, p99 and non-2xx over time, with the injected events](${input.svgFile})`,
    '',
    '| | result | must |',
    '|---|---|---|',
    `| requests in all | ${total.toLocaleString('en-US')} in ${durationS} s (${(total / durationS).toFixed(0)}/s); p50 ${all.quantile(0.5).toFixed(2)} ms, p99 ${all.quantile(0.99).toFixed(2)} ms | |`,
    `| non-2xx or no answer | ${count(non2xx)} (${pct(count(non2xx) / Math.max(1, total))}): ${listed(non2xx)} | |`,
    `| sessions lost (a 401 during the run or at the final check) | **${lost.length}** of ${sessionsCount}${lost.length ? ` (${listed(lostByEvent)})` : ''} | 0 |`,
    `| refresh grants per session per expiry (counted at the provider) | max **${r.maxPerExpiry}**; ${r.refreshes} refreshes of ${r.sessionsRefreshed} sessions (${neverRefreshed} never refreshed), ${r.early} sooner than TTL − skew after the previous | exactly 1 |`,
    `| refresh-token reuse errors at the provider | **${r.reuseErrors}** (refused refreshes in all: ${r.refused}${r.refused ? `: ${listed(input.refusedRefreshes)}` : ''}) | 0 |`,
    `| WebSockets (${input.websocketCount} held) dropped / re-established | ${wsDropped} dropped (close codes ${listed(ws.dropped)}) / ${ws.reestablished()} re-established; refused re-opens ${count(ws.refused)}${ws.refused.size ? ` (${listed(ws.refused)})` : ''}; open at the end **${input.websocketsOpenAtEnd}** | all re-established |`,
    `| Redis memory per session | ${(redisPerSession / 1024).toFixed(2)} KiB (used_memory ${(input.redis.usedBytesBefore / 2 ** 20).toFixed(1)} → ${(input.redis.usedBytesAfter / 2 ** 20).toFixed(1)} MiB, ${input.redis.keys} keys) | |`,
    `| requests the load generator could not send (its in-flight bound) | ${input.skipped} | |`,
    '',
    '| event | action took | requests | non-2xx or no answer by status | longest 503 window | p99 | what happened |',
    '|---|---:|---:|---|---:|---:|---|',
  ];
  const tags = ['steady', ...timeline.events.map((e) => e.name)];
  for (const tag of tags) {
    const byStatus = new Map<string, number>();
    for (const s of timeline.seconds) for (const [k, v] of s.byEvent.get(tag) ?? []) byStatus.set(k, (byStatus.get(k) ?? 0) + v);
    const span = timeline.events.find((e) => e.name === tag);
    const window = longest503Window(timeline.unavailable.get(tag) ?? []);
    const lat = new Histogram();
    const spanSeconds = timeline.seconds.filter((s) => s.byEvent.has(tag));
    for (const s of spanSeconds) lat.add(s.latency);
    const bad = new Map([...byStatus].filter(([k]) => !k.startsWith('2')));
    const errorCodes = timeline.errors.get(tag);
    if (errorCodes && bad.has('error')) {
      bad.set(`error (${listed(errorCodes)})`, bad.get('error')!);
      bad.delete('error');
    }
    md.push(
      `| ${tag === 'steady' ? 'warm-up (no event)' : `${tag} + recovery`} | ${span?.actionEnd ? `${((span.actionEnd - span.start) / 1000).toFixed(1)} s` : '—'} | ${count(byStatus)} | ${listed(bad)} | ${window.count ? `${(window.ms / 1000).toFixed(2)} s (${window.count})` : '—'} | ${lat.total ? `${lat.quantile(0.99).toFixed(1)} ms` : '—'} | ${span?.notes.join('; ') ?? ''} |`,
    );
  }
  md.push('', `Replicas after ${input.warmupS} s of their own life under load (a restarted replica is a new process), sampled every few seconds from /proc:`, '');
  md.push(
    '| replica | pid | samples | RSS min / median / max (MiB) | RSS spread | open fds min / median / max | fds spread | fds other than connections min / median / max | last vs first quarter: RSS (must ≤ +10 %), fds, other fds (must ±10 %) | live heap after full GC: collections, first → last quarter (MiB), drift | V8 committed heap after GC: first → last quarter (MiB), drift | CPU (share of a core) |',
    '|---|---:|---:|---|---:|---|---:|---|---:|---:|---:|---:|',
  );
  for (const f of flat) {
    md.push(
      `| ${f.replica} | ${f.pid} | ${f.samples} | ${f.rssMb.map((v) => v.toFixed(1)).join(' / ')} | ±${pct(f.rssDev)} | ${f.fds.join(' / ')} | ±${pct(f.fdsDev)} | ${f.otherFds.join(' / ')} | **${signed(f.rssDrift)}**, ${signed(f.fdsDrift)}, **${signed(f.otherFdsDrift)}** | ${f.live ? `${f.live.count}, ${f.live.first.toFixed(1)} → ${f.live.last.toFixed(1)}, ${signed(f.live.drift)}` : 'fewer than 6'} | ${f.committed ? `${f.committed.first.toFixed(1)} → ${f.committed.last.toFixed(1)}, ${signed(f.committed.drift)}` : 'fewer than 6 GCs'} | ${pct(f.cpu)} |`,
    );
  }
  if (flat.length === 0) md.push('| — | | | no process lived past its warm-up long enough for three samples | | | | | | | | |');
  md.push('', failed.length ? `**Musts not met:** ${failed.join('; ')}.` : '**Every must met.**', '');
  return { markdown: md.join('\n'), failed };
}
