import { describe, expect, it } from 'vitest';
import { reconnectDelayMs } from '../../../src/session/redis-client.js';

// docs/production-redis.md: "The client reconnects forever (100 ms doubling to 2 s, with jitter)".
const range = (attempt: number) => {
  const delays = Array.from({ length: 500 }, () => reconnectDelayMs(attempt));
  return { min: Math.min(...delays), max: Math.max(...delays), distinct: new Set(delays).size };
};

describe('Redis reconnect back-off', () => {
  it.each([
    [1, 100],
    [2, 200],
    [3, 400],
    [4, 800],
    [5, 1600],
    [6, 2000],
    [10, 2000],
    [10_000, 2000],
  ])('attempt %i waits about %i ms, give or take 20 percent', (attempt, nominal) => {
    const { min, max } = range(attempt);
    expect(min).toBeGreaterThanOrEqual(nominal * 0.8);
    expect(max).toBeLessThanOrEqual(nominal * 1.2);
  });

  it('never gives up (always a delay, never an end) and spreads replicas that lost Redis together', () => {
    for (const attempt of [0, 1, 50, 1e6]) expect(Number.isFinite(reconnectDelayMs(attempt))).toBe(true);
    const { min, max, distinct } = range(6);
    expect(distinct).toBeGreaterThan(50);
    expect(max - min).toBeGreaterThan(400); // most of the ±400 ms band is used
  });
});
