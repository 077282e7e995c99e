import { describe, expect, it } from 'vitest';
import { summarise, type Measurement } from '../../../bench/report-table.js';

// The targets are read off these ratios: pairing a run with the wrong baseline run would pass or
// fail a target on when the host was slow, not on which proxy is faster.
const BARE = 'bare';
let seq = 0;
const run = (target: string, round: number, rps: number, p99 = 10): Measurement => ({
  target,
  round,
  connections: 16,
  copy: 0,
  seq: seq++,
  rps,
  p50: 1,
  p99,
  requests: rps * 8,
  durationS: 8,
  non2xx: 0,
  errors: 0,
  cpuMs: 8_000,
  rssMiB: 100,
});
const ratioOf = (rows: ReturnType<typeof summarise>, target: string) => rows.find((r) => r.target === target)!;

describe('bench ratios', () => {
  it('with one baseline run a round, takes each round against it, wherever it ran in the round', () => {
    seq = 0;
    const rows = summarise(
      [run('gw', 1, 800), run(BARE, 1, 1000), run('other', 1, 500), run(BARE, 2, 2000), run('gw', 2, 1000), run('other', 2, 1000)],
      BARE,
    );
    expect(ratioOf(rows, 'gw').rpsRatio).toBeCloseTo((0.8 + 0.5) / 2);
    expect(ratioOf(rows, 'other').rpsRatio).toBeCloseTo(0.5);
  });

  it('with the baseline between the rows, takes each run against the mean of the two baseline runs beside it', () => {
    seq = 0;
    // The host slows to half speed after the first row: both sides of the second ratio are slow.
    const rows = summarise(
      [run(BARE, 1, 1000, 10), run('fast-then', 1, 800, 12), run(BARE, 1, 1000, 10), run('slow-then', 1, 400, 24), run(BARE, 1, 500, 20)],
      BARE,
    );
    expect(ratioOf(rows, 'fast-then').rpsRatio).toBeCloseTo(0.8);
    expect(ratioOf(rows, 'slow-then').rpsRatio).toBeCloseTo(400 / 750);
    expect(ratioOf(rows, 'slow-then').p99Ratio).toBeCloseTo(24 / 15);
    expect(ratioOf(rows, BARE).rpsRatio).toBeUndefined();
  });

  it('never pairs a run with a baseline run of another round or connection count', () => {
    seq = 0;
    const other = { ...run(BARE, 1, 100), connections: 64 };
    const rows = summarise([run(BARE, 1, 1000), run('gw', 1, 900), other, run(BARE, 2, 50)], BARE);
    expect(ratioOf(rows, 'gw').rpsRatio).toBeCloseTo(0.9);
  });
});
