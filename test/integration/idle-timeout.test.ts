/**
 * SESSION_IDLE_TIMEOUT_SECONDS: "any authenticated request counts as
 * activity; never past the absolute lifetime". Time is moved with a shared
 * test clock instead of waited for; memory and Redis stores alike.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestClock, loginCookie, type TestClock } from '../support/proxy-test-kit.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

const IDLE_S = 60;
const TTL_S = 300;

let idp: TestIdentityProvider;
let redis: RedisServer;
beforeAll(async () => {
  [idp, redis] = await Promise.all([startIdentityProvider(), startRedis()]);
});
afterAll(async () => {
  await Promise.all([idp?.close(), redis?.stop()]);
});

describe.each(['memory', 'redis'] as const)('idle timeout with the %s store', (kind) => {
  let clock: TestClock;
  let gw: TestGateway;
  beforeAll(async () => {
    clock = createTestClock();
    gw = await startTestGateway({
      idp,
      clock: clock.now,
      ...(kind === 'redis' ? { redisUrl: redis.url } : {}),
      env: { SESSION_IDLE_TIMEOUT_SECONDS: String(IDLE_S), SESSION_TTL_SECONDS: String(TTL_S) },
    });
  });
  afterAll(async () => {
    await gw?.close();
  });

  const me = async (cookie: string) => (await fetch(`${gw.url}/auth/me`, { headers: { cookie } })).status;
  const seconds = (s: number) => clock.advance(s * 1000);

  it('counts a request made soon after the last one as activity: 59 s after it the session is still there', async () => {
    const cookie = await loginCookie(gw);
    seconds(2);
    expect(await me(cookie)).toBe(200);
    seconds(IDLE_S - 1);
    expect(await me(cookie)).toBe(200);
  });

  it('slides with every request, and ends once a full idle limit passes without one', async () => {
    const cookie = await loginCookie(gw);
    for (let i = 0; i < 3; i++) {
      seconds(IDLE_S - 5);
      expect(await me(cookie)).toBe(200);
    }
    seconds(IDLE_S);
    expect(await me(cookie)).toBe(401);
    seconds(-IDLE_S); // gone for good, not merely hidden by the clock
    expect(await me(cookie)).toBe(401);
  });

  it('never keeps a busy session past its absolute lifetime', async () => {
    const cookie = await loginCookie(gw);
    for (let elapsed = 0; elapsed + 30 < TTL_S; elapsed += 30) {
      seconds(30);
      expect(await me(cookie)).toBe(200);
    }
    seconds(30);
    expect(await me(cookie)).toBe(401);
  });
});
