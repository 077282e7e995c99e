/**
 * A whole gateway through Redis outages: started while Redis is down, Redis
 * hanging, Redis killed and restarted under traffic. What users see (503
 * store_unavailable quickly, never a logout), what operators see (one log
 * line per state change, /readyz, /status, /metrics), and recovery without
 * help. Ends with the metrics of proxied requests and a shared refresh.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import type { Browser } from '../support/browser-login.js';
import { logIn, logLines, logOut, me, type MeAnswer } from '../support/gateway-user.js';
import { waitUntil } from '../support/wait-for.js';
import { scrapeMetrics } from '../support/scrape-metrics.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

const COMMAND_TIMEOUT_MS = 500;
// A Redis hang for the hung-Redis tests: far longer than the command timeout, so "answered before it ended" means "did not wait for Redis".
const PAUSE_MS = 20 * COMMAND_TIMEOUT_MS;

let idp: TestIdentityProvider;
let echo: EchoApi;
let redis: RedisServer;
let gw: TestGateway;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  // appendonly: a session written before the outage is still there after the restart.
  [idp, echo, redis] = await Promise.all([startIdentityProvider(), createEchoApi(), startRedis({ appendonly: true })]);
}, 60_000);
afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await gw?.close();
  await Promise.all([redis?.stop(), echo?.close(), idp?.close()]);
});

const gatewayEnv = () => ({
  REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
  PROXY_ROUTES: `/api=${echo.url}`,
});

const getCalls = async () => Number(/cmdstat_get:calls=(\d+)/.exec(await redis.cli('INFO', 'commandstats'))?.[1] ?? 0);

async function admin(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${gw.adminUrl}${path}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Workers calling /auth/me until stopped; bounded in count and time whatever happens. */
function startTraffic(browser: Browser, workers = 4): { answers: Array<MeAnswer & { ms: number }>; stop(): Promise<void> } {
  const answers: Array<MeAnswer & { ms: number }> = [];
  const deadline = Date.now() + 60_000;
  let stopped = false;
  const loops = Array.from({ length: workers }, async () => {
    while (!stopped && Date.now() < deadline && answers.length < 5_000) {
      const started = performance.now();
      const answer = await me(gw, browser);
      answers.push({ ...answer, ms: performance.now() - started });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
  return {
    answers,
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

describe('a gateway whose Redis goes away', () => {
  it('starts while Redis is down (not ready, 503 where a store is needed) and becomes ready when Redis comes up', async () => {
    await redis.kill();
    gw = await startTestGateway({ idp, redisUrl: redis.url, env: gatewayEnv(), waitForStore: false });

    expect((await fetch(`${gw.adminUrl}/healthz`)).status).toBe(200);
    expect(await admin('/readyz')).toMatchObject({ status: 503, body: { store_reachable: false, discovery_loaded: true } });
    expect(await admin('/status')).toEqual({ status: 503, body: { store: 'redis', connected: false } });
    const login = await fetch(`${gw.url}/auth/login`, { redirect: 'manual', headers: { accept: 'application/json' } });
    expect(login.status).toBe(503);
    expect(await login.json()).toMatchObject({ error: 'store_unavailable' });

    await redis.restart();
    await waitUntil('/readyz 200', 15_000, async () => (await admin('/readyz')).status === 200);
    expect(logLines(gw, /^redis not reachable yet/)).toHaveLength(1);
    expect(logLines(gw, /^redis connected/)).toHaveLength(1);
  });

  it('answers 503 store_unavailable while Redis hangs, without waiting for it, even for a cached session, then serves it again', async () => {
    const browser = await logIn(gw);
    await waitUntil('the session cache on', 10_000, () => logLines(gw, /^session cache on/).length > 0);
    expect((await me(gw, browser)).status).toBe(200);
    const getsBefore = await getCalls();
    expect((await me(gw, browser)).status).toBe(200);
    expect(await getCalls()).toBe(getsBefore); // served from the local session cache: no GET reached Redis

    // CLIENT UNPAUSE would itself wait for the pause to end, so the pause is long enough
    // (20 command timeouts) that a 503 seen before it ends can only be the gateway not waiting for Redis.
    const since = gw.logs.length; // the log lines of this hang only
    const hangLines = (msg: RegExp) => logLines({ logs: gw.logs.slice(since) }, msg);
    await redis.ok('CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
    const paused = performance.now();
    // The cache may answer until Redis has been silent for the command timeout; then every answer is a 503.
    let hung: MeAnswer;
    let ms: number;
    do {
      const started = performance.now();
      hung = await me(gw, browser);
      ms = performance.now() - started;
    } while (hung.status === 200 && performance.now() - paused < PAUSE_MS);
    expect(hung).toMatchObject({ status: 503, body: { error: 'store_unavailable' } });
    // Answered while Redis was still hung: the user gets an answer, not a hang until Redis returns.
    expect(performance.now() - paused).toBeLessThan(PAUSE_MS);
    expect(ms).toBeLessThan(PAUSE_MS / 2);

    await waitUntil('the pause to end', PAUSE_MS + 15_000, async () => (await me(gw, browser)).status === 200);
    expect(browser.jar.get(gw.publicUrl, gw.config.session.cookieName)).toBeDefined();
    // Back on by itself once Redis answers, with one log line each way for the whole hang.
    await waitUntil('the session cache back on', 15_000, () => hangLines(/^session cache on/).length === 1);
    expect(hangLines(/^session cache off/)).toHaveLength(1);
    expect((await me(gw, browser)).status).toBe(200);
    const getsAfter = await getCalls();
    expect((await me(gw, browser)).status).toBe(200);
    expect(await getCalls()).toBe(getsAfter);
  }, 60_000);

  it('survives Redis killed and restarted under traffic: 503s during, the same session 200 after, one log line per state change', async () => {
    const browser = await logIn(gw);
    const before = await scrapeMetrics(gw.adminUrl);
    const moved = (after: Awaited<ReturnType<typeof scrapeMetrics>>, name: string, labels: Record<string, string>) =>
      after.value(name, labels) - before.value(name, labels);
    const traffic = startTraffic(browser);
    try {
      await waitUntil('traffic flowing', 10_000, () => traffic.answers.some((a) => a.status === 200));
      await redis.kill();
      await waitUntil('503s from the gateway', 10_000, () => traffic.answers.filter((a) => a.status === 503).length >= 20);
      expect(await admin('/readyz')).toMatchObject({ status: 503, body: { store_reachable: false } });
      expect(await admin('/status')).toEqual({ status: 503, body: { store: 'redis', connected: false } });
      const duringOutage = await scrapeMetrics(gw.adminUrl);

      await redis.restart();
      const afterRestart = traffic.answers.length;
      await waitUntil('200s again', 15_000, () => traffic.answers.slice(afterRestart).filter((a) => a.status === 200).length >= 8);
      await traffic.stop();

      const statuses = new Set(traffic.answers.map((a) => a.status));
      expect([...statuses].sort()).toEqual([200, 503]); // never 401: nobody was logged out
      const failures = traffic.answers.filter((a) => a.status === 503);
      expect(failures.every((a) => a.body.error === 'store_unavailable')).toBe(true);
      // 503s did not wait for Redis to come back (it stayed down until 20 of them had arrived); the bound is
      // generous on purpose: "not hung", not "fast" (speed is the bench's job).
      expect(Math.max(...failures.map((a) => a.ms))).toBeLessThan(PAUSE_MS);
      expect(traffic.answers.at(-1)?.status).toBe(200);
      expect(logLines(gw, /^redis connection lost/)).toHaveLength(1);
      expect(logLines(gw, /^redis reconnected/)).toHaveLength(1);
      expect(logLines(gw, /^request failed/).filter((l) => l['level'] !== 'debug')).toEqual([]);
      expect(unhandled).toEqual([]);
      expect(await admin('/readyz')).toMatchObject({ status: 200 });

      // The counters moved: logins, the 503s by route, store errors, and the session still counted.
      const after = await scrapeMetrics(gw.adminUrl);
      expect(after.value('bff_logins_total', { outcome: 'success' })).toBe(2);
      const okAnswers = traffic.answers.length - failures.length;
      expect(moved(after, 'bff_http_requests_total', { route: '/auth/me', status: '503' })).toBe(failures.length);
      expect(moved(after, 'bff_http_requests_total', { route: '/auth/me', status: '200' })).toBe(okAnswers);
      expect(moved(after, 'bff_store_errors_total', { operation: 'get' })).toBe(failures.length);
      expect(moved(duringOutage, 'bff_store_errors_total', { operation: 'ping' })).toBeGreaterThan(0);
      expect(moved(after, 'bff_store_operation_duration_seconds_count', { operation: 'get' })).toBe(traffic.answers.length);
      expect(after.value('bff_active_sessions')).toBe(2);
    } finally {
      await traffic.stop();
    }
  }, 60_000);

  it('counts proxied requests, one refresh shared by two replicas (the other waited on the lock), and logouts', async () => {
    // Logged in with an access token that is already inside the refresh skew; the refreshed one is not.
    idp.setTokenPolicy({ accessTokenTtlSeconds: 10 });
    const browser = await logIn(gw);
    idp.setTokenPolicy({ accessTokenTtlSeconds: 300 });
    const replica = await startTestGateway({ idp, redisUrl: redis.url, publicUrl: gw.publicUrl, env: gatewayEnv() });
    try {
      const cookie = browser.jar.cookieHeaderFor(gw.publicUrl)!;
      const grantsBefore = idp.counters.refreshGrants;
      // The grant waits at the provider until the replica has found the lock taken, whatever the machine's load:
      // the lock is taken before the grant is sent, and each SET NX after the replica's first is a retry after a refusal.
      const setCalls = async () => Number(/cmdstat_set:calls=(\d+)/.exec(await redis.cli('INFO', 'commandstats'))?.[1] ?? 0);
      const hold = idp.holdRequests('token');
      let first: Promise<Response>, second: Promise<Response>;
      let heldSince = performance.now();
      let heldMs = 0;
      try {
        first = fetch(`${gw.url}/api/first`, { headers: { cookie, 'x-csrf': '1' } });
        await waitUntil('the refresh grant at the provider', 15_000, () => hold.held() === 1);
        heldSince = performance.now();
        const setsBefore = await setCalls();
        second = fetch(`${replica.url}/api/second`, { headers: { cookie, 'x-csrf': '1' } });
        await waitUntil('the replica to wait on the lock', 15_000, async () => (await setCalls()) - setsBefore >= 2);
      } finally {
        heldMs = performance.now() - heldSince;
        hold.release();
      }
      const answers = await Promise.all([first, second]);

      expect(answers.map((a) => a.status)).toEqual([200, 200]);
      const bearers = await Promise.all(answers.map(async (a) => ((await a.json()) as { headers: Record<string, string> }).headers['authorization']));
      expect(bearers[0]).toBe(bearers[1]);
      expect(idp.counters.refreshGrants - grantsBefore).toBe(1);

      const [mine, theirs] = await Promise.all([scrapeMetrics(gw.adminUrl), scrapeMetrics(replica.adminUrl)]);
      expect(mine.value('bff_token_refreshes_total', { outcome: 'refreshed' })).toBe(1);
      expect(theirs.value('bff_token_refreshes_total', { outcome: 'reused' })).toBe(1);
      expect(theirs.value('bff_refresh_lock_wait_seconds_count')).toBe(1);
      expect(theirs.value('bff_refresh_lock_wait_seconds_sum')).toBeGreaterThan(0);
      expect(mine.value('bff_http_requests_total', { route: 'proxy:/api', method: 'GET', status: '200' })).toBe(1);
      expect(mine.value('bff_proxy_request_duration_seconds_count', { route: '/api' })).toBe(1);
      // The first request was under way for all the time its grant was held.
      expect(mine.value('bff_proxy_request_duration_seconds_sum', { route: '/api' })).toBeGreaterThanOrEqual(heldMs / 1000);
      expect(mine.declares('bff_logouts_total')).toBe(true);

      expect(await logOut(gw, browser)).toBe(200);
      const afterLogout = await scrapeMetrics(gw.adminUrl);
      expect(afterLogout.value('bff_logouts_total', { kind: 'user' })).toBe(1);
      expect(afterLogout.value('bff_active_sessions')).toBe(2);
    } finally {
      idp.setLatencyMs(0);
      await replica.close();
    }
  }, 60_000);
});
