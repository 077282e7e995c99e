/**
 * The live heap of each replica after every full collection, read from the
 * `--trace-gc` lines in its log. RSS follows GC's sawtooth and V8's heap
 * sizing; what a mark-compact leaves behind is what the process still holds,
 * so a leak shows there as a rising floor.
 */
import { readFileSync } from 'node:fs';

export interface LiveHeapSample {
  /** Seconds since the process started (V8's own clock in the trace line). */
  readonly t: number;
  readonly liveMb: number;
}

// [8168:0x6a2f0c0]   123456 ms: Mark-Compact 98.1 (120.3) -> 61.2 (118.0) MB, …
const MARK_COMPACT = /^\[(\d+):0x[0-9a-f]+\]\s+(\d+) ms: Mark-Compact(?: \([^)]*\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB/;

export function liveHeapByPid(logFiles: readonly string[]): Map<number, LiveHeapSample[]> {
  const byPid = new Map<number, LiveHeapSample[]>();
  for (const file of new Set(logFiles)) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const m = MARK_COMPACT.exec(line);
      if (!m) continue;
      const pid = Number(m[1]);
      const samples = byPid.get(pid) ?? [];
      samples.push({ t: Number(m[2]) / 1000, liveMb: Number(m[3]) });
      byPid.set(pid, samples);
    }
  }
  return byPid;
}
