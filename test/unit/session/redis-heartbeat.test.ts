import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startHeartbeat, type Heartbeat } from '../../../src/session/redis-heartbeat.js';

/** A PING whose answer the test controls: each call waits until answered or failed. */
function controllablePing() {
  const pending: { resolve: () => void; reject: (err: Error) => void }[] = [];
  return {
    ping: () => new Promise<unknown>((resolve, reject) => pending.push({ resolve: () => resolve('PONG'), reject })),
    sent: () => pending.length,
    answerAll: async () => {
      for (const p of pending.splice(0)) p.resolve();
      await vi.advanceTimersByTimeAsync(0);
    },
    failAll: async () => {
      for (const p of pending.splice(0)) p.reject(new Error('Command timed out'));
      await vi.advanceTimersByTimeAsync(0);
    },
  };
}

describe('startHeartbeat', () => {
  let heartbeat: Heartbeat | undefined;
  const events: string[] = [];
  beforeEach(() => {
    vi.useFakeTimers();
    events.length = 0;
  });
  afterEach(() => {
    heartbeat?.stop();
    vi.useRealTimers();
  });
  const start = (redis: { ping(): Promise<unknown> }) =>
    (heartbeat = startHeartbeat(redis, {
      staleAfterMs: 400,
      now: () => Date.now(), // faked by vi
      onSilent: () => events.push('silent'),
      onAnswer: () => events.push('answer'),
    }));

  it('stays quiet while PINGs are answered, one at a time, every quarter of the stale time', async () => {
    const redis = controllablePing();
    const hb = start(redis);
    await vi.advanceTimersByTimeAsync(100);
    expect(redis.sent()).toBe(1);
    await vi.advanceTimersByTimeAsync(300); // unanswered: no second PING piles up
    expect(redis.sent()).toBe(1);
    await redis.answerAll();
    for (let i = 0; i < 10; i++) {
      await vi.advanceTimersByTimeAsync(100);
      expect(redis.sent()).toBe(1);
      await redis.answerAll();
    }
    expect(hb.silent).toBe(false);
    expect(events).toEqual([]);
  });

  it('turns silent once a PING has waited longer than the stale time, says so once, and recovers on the next answer', async () => {
    const redis = controllablePing();
    const hb = start(redis);
    await vi.advanceTimersByTimeAsync(100); // PING sent at t=100
    await vi.advanceTimersByTimeAsync(400);
    expect(hb.silent).toBe(false); // exactly 400 ms: not yet
    await vi.advanceTimersByTimeAsync(1);
    expect(hb.silent).toBe(true);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(events).toEqual(['silent']);

    await redis.answerAll();
    expect(hb.silent).toBe(false);
    expect(events).toEqual(['silent', 'answer']);
  });

  it('keeps counting through failed PINGs (a timeout proves nothing) until one is answered', async () => {
    const redis = controllablePing();
    const hb = start(redis);
    for (let i = 0; i < 6; i++) {
      await vi.advanceTimersByTimeAsync(100);
      await redis.failAll();
    }
    expect(hb.silent).toBe(true);
    expect(events).toEqual(['silent']);
    await vi.advanceTimersByTimeAsync(100);
    await redis.answerAll();
    expect(hb.silent).toBe(false);
    expect(events).toEqual(['silent', 'answer']);
  });

  it('reports silence at once when asked to notice, and still only once', async () => {
    const redis = controllablePing();
    const hb = start(redis);
    await vi.advanceTimersByTimeAsync(100); // PING sent at t=100
    vi.setSystemTime(Date.now() + 401); // time passes without a tick (a busy event loop)
    hb.notice();
    expect(events).toEqual(['silent']);
    await vi.advanceTimersByTimeAsync(300);
    expect(events).toEqual(['silent']);
    await redis.answerAll();
    expect(events).toEqual(['silent', 'answer']);
  });

  it('takes another command answering as proof of life', async () => {
    const redis = controllablePing();
    const hb = start(redis);
    await vi.advanceTimersByTimeAsync(600);
    expect(hb.silent).toBe(true);
    hb.heard();
    expect(hb.silent).toBe(false);
    expect(events).toEqual(['silent', 'answer']);
    // The PING still out never comes back: silent again one stale time later.
    await vi.advanceTimersByTimeAsync(500);
    expect(hb.silent).toBe(true);
    expect(events).toEqual(['silent', 'answer', 'silent']);
  });
});
