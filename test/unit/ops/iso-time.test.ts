import { describe, expect, it } from 'vitest';
import { isoTime } from '../../../src/ops/iso-time.js';

describe('isoTime', () => {
  it('reads as toISOString for every millisecond across second, minute, hour, day and year boundaries', () => {
    const edges = [Date.UTC(2026, 11, 31, 23, 59, 58, 990), Date.UTC(2024, 1, 28, 23, 59, 59, 0), Date.UTC(1969, 11, 31, 23, 59, 59, 500), 0];
    for (const edge of edges) {
      for (let ms = edge; ms < edge + 3_000; ms += 1) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    }
  });

  it('reads as toISOString when the clock jumps, backwards too, and for years with six digits', () => {
    const times = [Date.UTC(2026, 5, 1, 12, 0, 0, 7), Date.UTC(2026, 5, 1, 11, 59, 59, 999), Date.UTC(1999, 0, 1), 8.64e15, -8.64e15, Date.UTC(2026, 5, 1, 12, 0, 0, 7)];
    for (let i = 0; i < 2_000; i += 1) times.push(Math.floor(Math.random() * 4e12));
    for (const ms of times) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });
});
