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

/** Both series from one read of the logs (a 30-minute run's traces are tens of MB). */
export function heapTraceByPid(logFiles: readonly string[]): { live: Map<number, LiveHeapSample[]>; committed: Map<number, CommittedHeapSample[]> } {
  const live = new Map<number, LiveHeapSample[]>();
  const committed = new Map<number, CommittedHeapSample[]>();
  const add = <T>(map: Map<number, T[]>, pid: number, value: T) => {
    const list = map.get(pid);
    if (list) list.push(value);
    else map.set(pid, [value]);
  };
  for (const s of gcSamples(logFiles)) {
    // The heap still in use after each full collection; the heap V8 has committed after every one.
    if (s.full) add(live, s.pid, { t: s.t, liveMb: s.usedMb });
    add(committed, s.pid, { t: s.t, committedMb: s.committedMb });
  }
  return { live, committed };
}
