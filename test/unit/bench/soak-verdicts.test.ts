import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { heapTraceByPid } from '../../../bench/soak/gc-trace.js';
import { REUSE_DETAIL, summariseRefreshes, type ProviderLedger } from '../../../bench/soak/provider-ledger.js';
import { drift, longest503Window } from '../../../bench/soak/soak-report.js';

// The soak's musts are computed here: a wrong count would pass a run that lost refreshes or hid an outage.
describe('soak verdicts', () => {
  it('counts a second refresh inside one token lifetime as early, and reuse errors apart from other refusals', () => {
    const ledger: ProviderLedger = {
      issued: new Map([
        ['one-per-expiry', [0, 55_000, 110_500]],
        ['twice-for-one-expiry', [0, 55_000, 56_000]],
        ['never-refreshed', [0]],
      ]),
      refusedRefreshes: new Map([[REUSE_DETAIL, 1], ['refresh token not found', 2]]),
    };
    expect(summariseRefreshes(ledger, 60, 5)).toEqual({ refreshes: 4, sessionsRefreshed: 2, early: 1, maxPerExpiry: 2, reuseErrors: 1, refused: 3 });
  });

  it('measures the longest run of 503s no more than a second apart', () => {
    expect(longest503Window([5_100, 0, 500, 1_200, 5_000])).toEqual({ ms: 1_200, count: 3 });
    expect(longest503Window([])).toEqual({ ms: 0, count: 0 });
  });

  it('judges RSS drift on the ends of a process life, not on where a GC swing ended', () => {
    // RSS climbing 100 → 127 between full GCs, with no trend, the run ending near a peak: three samples at
    // each end would read about +23 %.
    const sawtooth = Array.from({ length: 49 }, (_, i) => 100 + 3 * (i % 10));
    expect(Math.abs(drift(sawtooth))).toBeLessThan(0.1);
    // A steady climb from 100 to 139 is a drift all the same.
    expect(drift(Array.from({ length: 40 }, (_, i) => 100 + i))).toBeGreaterThan(0.25);
  });

  it('reads the live heap after each full GC, and the committed heap after every GC, from --trace-gc lines, by pid', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gc-trace-')), 'gateway.log');
    writeFileSync(
      file,
      [
        '{"level":40,"msg":"a log line"}',
        '[8168:0x6a2f0c0]    61234 ms: Scavenge 80.1 (95.0) -> 70.2 (95.0) MB, 1.2 / 0.0 ms  (average mu = 0.99) allocation failure;',
        '[8168:0x6a2f0c0]    62000 ms: Mark-Compact 98.1 (120.3) -> 61.2 (118.0) MB, 23.73 / 0.01 ms  (average mu = 1.000) finalize incremental marking via stack guard; GC in old space requested',
        '[8170:0x18aadd80]   90500 ms: Mark-Compact (reduce) 70.0 (90.0) -> 55.5 (80.0) MB, 10.0 / 0.0 ms  (average mu = 0.9) external memory pressure',
      ].join('\n'),
    );
    const { live, committed } = heapTraceByPid([file]);
    expect([...live]).toEqual([
      [8168, [{ t: 62, liveMb: 61.2 }]],
      [8170, [{ t: 90.5, liveMb: 55.5 }]],
    ]);
    // V8's committed heap after every collection, scavenges included: its share of RSS.
    expect([...committed]).toEqual([
      [8168, [{ t: 61.234, committedMb: 95 }, { t: 62, committedMb: 118 }]],
      [8170, [{ t: 90.5, committedMb: 80 }]],
    ]);
  });
});
