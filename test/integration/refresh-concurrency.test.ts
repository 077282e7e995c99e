import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { apiHeaders, createTestClock, loginCookie, type TestClock } from '../support/proxy-test-kit.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

// Access tokens live 300 s at the provider; the gateway refreshes 30 s before that.
const ACCESS_TOKEN_TTL_MS = 300_000;
const BURST = 40;

let redis: RedisServer;
let idp: TestIdentityProvider;
let echo: EchoApi;
let clock: TestClock;
let replicaA: TestGateway;
let replicaB: TestGateway;

beforeAll(async () => {
  [redis, idp, echo] = await Promise.all([startRedis(), startIdentityProvider({ rotateRefreshTokens: true }), createEchoApi()]);
  clock = createTestClock();
  const env = { PROXY_ROUTES: `/api=${echo.url}` };
  replicaA = await startTestGateway({ idp, redisUrl: redis.url, clock: clock.now, env });
  replicaB = await startTestGateway({ idp, redisUrl: redis.url, clock: clock.now, env, publicUrl: replicaA.publicUrl });
});

afterAll(async () => {
  await Promise.all([replicaA?.close(), replicaB?.close()]);
  await Promise.all([echo?.close(), idp?.close(), redis?.stop()]);
});

/** BURST requests at once, alternating between the replicas; the bearer token each one reached the upstream with. */
async function burst(cookie: string): Promise<{ statuses: number[]; bearers: string[] }> {
  const responses = await Promise.all(
    Array.from({ length: BURST }, (_, i) =>
      fetch(`${(i % 2 === 0 ? replicaA : replicaB).url}/api/items/${i}`, { headers: apiHeaders(cookie) }),
    ),
  );
  const bodies = await Promise.all(responses.map((r) => r.json() as Promise<{ headers?: { authorization?: string } }>));
  return { statuses: responses.map((r) => r.status), bearers: bodies.map((b) => b.headers?.authorization ?? '') };
}

describe('transparent refresh across two replicas', () => {
  it('answers 40 concurrent requests after expiry with exactly one refresh grant, twice in a row (rotating refresh tokens)', async () => {
    const cookie = await loginCookie(replicaA);
    const before = await burst(cookie);
    expect(before.statuses).toEqual(Array(BURST).fill(200));
    const loginToken = before.bearers[0]!;
    expect(loginToken).toMatch(/^Bearer /);
    expect(idp.counters.refreshGrants).toBe(0);

    const seen = [loginToken];
    for (const rotation of [1, 2]) {
      clock.advance(ACCESS_TOKEN_TTL_MS);
      const after = await burst(cookie);
      expect(after.statuses, `rotation ${rotation}`).toEqual(Array(BURST).fill(200));
      // One grant for the whole burst, and every request carried its token.
      expect(idp.counters.refreshGrants, `refresh grants after rotation ${rotation}`).toBe(rotation);
      expect(new Set(after.bearers).size).toBe(1);
      expect(seen).not.toContain(after.bearers[0]);
      seen.push(after.bearers[0]!);
    }
    // Reusing a rotated refresh token would have been refused (and counted) by the provider.
    expect(idp.counters.refreshGrantErrors).toBe(0);
    expect(idp.serverErrors).toEqual([]);
    const refreshed = [...replicaA.logs, ...replicaB.logs].filter((line) => line.includes('"refresh_failed"'));
    expect(refreshed).toEqual([]);
  });
});
