/**
 * What V8 reports of each replica's heap in the `--trace-gc` lines of its log.
 * RSS follows GC's sawtooth and V8's heap sizing; what a mark-compact leaves
 * behind is what the process still holds, so a leak shows there as a rising
 * floor. The heap V8 has committed after each collection (scavenges too) is
 * its share of RSS: RSS growing while that stays flat is native memory.
 */
import { readFileSync } from 'node:fs';

export interface LiveHeapSample {
  /** Seconds since the process started (V8's own clock in the trace line). */
  readonly t: number;
  readonly liveMb: number;
}

export interface CommittedHeapSample {
  readonly t: number;
  readonly committedMb: number;
}

// [8168:0x6a2f0c0]   123456 ms: Mark-Compact 98.1 (120.3) -> 61.2 (118.0) MB, …
// [8168:0x6a2f0c0]   123457 ms: Scavenge 80.2 (118.0) -> 66.0 (118.0) MB, …
const GC_LINE = /^\[(\d+):0x[0-9a-f]+\]\s+(\d+) ms: (Scavenge|Mark-Compact)(?: \([^)]*\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \(([\d.]+)\) MB/;

interface GcSample {
  readonly pid: number;
  readonly t: number;
  readonly full: boolean;
  readonly usedMb: number;
  readonly committedMb: number;
}

function* gcSamples(logFiles: readonly string[]): Generator<GcSample> {
  for (const file of new Set(logFiles)) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const m = GC_LINE.exec(line);
      if (m) yield { pid: Number(m[1]), t: Number(m[2]) / 1000, full: m[3] === 'Mark-Compact', usedMb: Number(m[4]), committedMb: Number(m[5]) };
    }
  }
}

function byPid<T>(logFiles: readonly string[], pick: (s: GcSample) => T | undefined): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const s of gcSamples(logFiles)) {
    const value = pick(s);
    if (value === undefined) continue;
    const list = out.get(s.pid) ?? [];
    list.push(value);
    out.set(s.pid, list);
  }
  return out;
}

/** The heap still in use after each full collection. */
export function liveHeapByPid(logFiles: readonly string[]): Map<number, LiveHeapSample[]> {
  return byPid(logFiles, (s) => (s.full ? { t: s.t, liveMb: s.usedMb } : undefined));
}

/** The heap V8 has committed after every collection. */
export function committedHeapByPid(logFiles: readonly string[]): Map<number, CommittedHeapSample[]> {
  return byPid(logFiles, (s) => ({ t: s.t, committedMb: s.committedMb }));
}
