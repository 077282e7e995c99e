import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { scrapeMetrics } from '../support/scrape-metrics.js';
import { apiHeaders, createTestClock, loginCookie, sessionIdOf, type TestClock } from '../support/proxy-test-kit.js';
import { waitUntil } from '../support/wait-for.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

const ACCESS_TOKEN_TTL_MS = 300_000;
const BACKOFF_CEILING_MS = 30_000;

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

afterEach(() => {
  idp.setDown(false);
  idp.setLatencyMs(0);
  idp.clearPendingFailures();
  clock.advance(BACKOFF_CEILING_MS); // no test inherits another's back-off
});

afterAll(async () => {
  await Promise.all([replicaA?.close(), replicaB?.close()]);
  await Promise.all([echo?.close(), idp?.close(), redis?.stop()]);
});

const api = (gateway: TestGateway, cookie: string) => fetch(`${gateway.url}/api/things`, { headers: apiHeaders(cookie) });
const me = (gateway: TestGateway, cookie: string) => fetch(`${gateway.url}/auth/me`, { headers: { cookie, accept: 'application/json' } });

/** A fresh login whose access token is due for a refresh. */
async function expiredSession(): Promise<string> {
  const cookie = await loginCookie(replicaA);
  clock.advance(ACCESS_TOKEN_TTL_MS);
  return cookie;
}

/** A fresh login whose access token is inside the refresh skew (30 s) but still valid for 20 s. */
async function sessionDueSoon(): Promise<string> {
  const cookie = await loginCookie(replicaA);
  clock.advance(ACCESS_TOKEN_TTL_MS - 20_000);
  return cookie;
}

const refreshAttempts = () => idp.counters.refreshGrants + idp.counters.refreshGrantErrors;
const logLines = (gateway: TestGateway) => gateway.logs.map((line) => JSON.parse(line) as Record<string, unknown>);

describe('refresh failures', () => {
  it('returns 401 and ends the session on every replica when the provider refuses the refresh (invalid_grant)', async () => {
    const cookie = await expiredSession();
    idp.failNextRefresh('invalid_grant');
    const response = await fetch(`${replicaA.url}/api/things`, { headers: { ...apiHeaders(cookie), 'x-request-id': 'trace-refresh-1' } });
    expect(response.status).toBe(401);
    // The audit line of the failed refresh carries the request that caused it.
    const audit = replicaA.logs.map((line) => JSON.parse(line)).find((line) => line.event === 'refresh_failed' && line.request_id === 'trace-refresh-1');
    expect(audit).toMatchObject({ reason: 'invalid_grant' });
    expect((await scrapeMetrics(replicaA.adminUrl)).value('bff_logouts_total', { kind: 'invalid_grant' })).toBe(1);
    expect(await response.json()).toMatchObject({ error: 'unauthenticated' });
    expect(response.headers.getSetCookie().some((c) => /^bff_session=;.*(Max-Age=0|expires=Thu, 01 Jan 1970)/i.test(c))).toBe(true);
    expect((await me(replicaA, cookie)).status).toBe(401);
    expect((await me(replicaB, cookie)).status).toBe(401);
    expect((await api(replicaB, cookie)).status).toBe(401);
    expect(await redis.cli('EXISTS', `session:${sessionIdOf(cookie)}`)).toBe('0');
  });

  it.each(['http-503', 'connection-reset'] as const)(
    'answers 503 refresh_unavailable and keeps the session while the provider is down (%s), then works again',
    async (mode) => {
      const cookie = await expiredSession();
      const grantsBefore = idp.counters.refreshGrants;
      idp.setDown(true, mode);
      const refused = await api(replicaA, cookie);
      expect(refused.status).toBe(503);
      expect(await refused.json()).toMatchObject({ error: 'refresh_unavailable' });
      expect(refused.headers.getSetCookie()).toEqual([]);
      expect((await api(replicaB, cookie)).status).toBe(503);
      // A transient failure is never taken for "no session".
      expect((await me(replicaB, cookie)).status).toBe(200);

      idp.setDown(false);
      clock.advance(1_000); // the first failure's back-off
      const recovered = await api(replicaB, cookie);
      expect(recovered.status).toBe(200);
      expect(idp.counters.refreshGrants).toBe(grantsBefore + 1);
      expect((await api(replicaA, cookie)).status).toBe(200);
      expect(idp.counters.refreshGrants).toBe(grantsBefore + 1);
    },
  );

  it.each([
    ['invalid_request', 'a 400 invalid_request (LemonLDAP::NG, expired refresh token)'],
    ['empty_400', 'a 400 with an empty body (Glewlwyd, revoked refresh token)'],
  ] as const)('ends the session on every replica for %s: %s', async (failure, _shape) => {
    const cookie = await expiredSession();
    idp.failNextRefresh(failure);
    const response = await api(replicaA, cookie);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: 'unauthenticated' });
    expect((await me(replicaB, cookie)).status).toBe(401);
    expect(await redis.cli('EXISTS', `session:${sessionIdOf(cookie)}`)).toBe('0');
    const audit = logLines(replicaA).filter((line) => line.event === 'refresh_failed').at(-1);
    expect(audit).toMatchObject({ reason: 'invalid_grant', provider_error: failure === 'empty_400' ? 'no_error_code' : 'invalid_request' });
    // A refresh, said as such: not "the login did not complete".
    expect(String(audit?.['msg'])).toMatch(/refresh/);
    expect(replicaA.logs.join('\n')).not.toMatch(/login did not complete/);
  });

  it.each(['http_503', 'down'] as const)(
    'forwards with the current access token while it is still valid when the provider answers 503 (%s)',
    async (how) => {
      const cookie = await loginCookie(replicaA);
      const bearer = async (gateway: TestGateway) => {
        const response = await api(gateway, cookie);
        expect(response.status).toBe(200);
        return ((await response.json()) as { headers: Record<string, string> }).headers['authorization'];
      };
      const loginToken = await bearer(replicaA);
      clock.advance(ACCESS_TOKEN_TTL_MS - 20_000); // inside the 30 s skew, valid for 20 s more
      if (how === 'down') idp.setDown(true, 'http-503');
      else idp.failNextRefresh('http_503');
      expect(await bearer(replicaA)).toBe(loginToken);
      expect(await bearer(replicaB)).toBe(loginToken);
      expect((await me(replicaB, cookie)).status).toBe(200);
      expect(logLines(replicaA).some((line) => line.event === 'refresh_failed' && line.reason === 'provider_unavailable')).toBe(true);
    },
  );

  it('sends at most 2 refresh grants for 100 calls within a second after a failed refresh, across two replicas', async () => {
    const cookie = await sessionDueSoon();
    idp.failNextRefresh('http_503', 100);
    const attemptsBefore = refreshAttempts();
    const statuses: number[] = [];
    // The hundred calls fall inside one second of the gateways' time, however long the machine takes to send them
    // (a loaded one took over a second, and a grant after the 1 s back-off is right, not a flood).
    clock.freeze();
    try {
      for (let batch = 0; batch < 10; batch += 1) {
        const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => api(i % 2 ? replicaA : replicaB, cookie)));
        for (const answer of answers) {
          statuses.push(answer.status);
          await answer.body?.cancel();
        }
      }
    } finally {
      clock.resume();
    }
    expect(refreshAttempts() - attemptsBefore).toBeGreaterThanOrEqual(1);
    expect(refreshAttempts() - attemptsBefore).toBeLessThanOrEqual(2);
    // The access token is still valid: every call went through with it.
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    const backedOff =
      (await scrapeMetrics(replicaA.adminUrl)).value('bff_token_refreshes_total', { outcome: 'backoff' }) +
      (await scrapeMetrics(replicaB.adminUrl)).value('bff_token_refreshes_total', { outcome: 'backoff' });
    expect(backedOff).toBeGreaterThan(0);
  });

  it('answers 503 refresh_unavailable in between once the access token has expired, and refreshes after the back-off', async () => {
    const cookie = await expiredSession();
    idp.failNextRefresh('http_503');
    const attemptsBefore = refreshAttempts();
    expect((await api(replicaA, cookie)).status).toBe(503);
    const between = await api(replicaB, cookie);
    expect(between.status).toBe(503);
    expect(await between.json()).toMatchObject({ error: 'refresh_unavailable' });
    expect(refreshAttempts() - attemptsBefore).toBe(1);
    clock.advance(1_000);
    expect((await api(replicaB, cookie)).status).toBe(200);
    expect(refreshAttempts() - attemptsBefore).toBe(2);
  });

  it('keeps the session when the provider refuses our client credentials at refresh (invalid_client), and logs it at error level', async () => {
    const cookie = await expiredSession();
    idp.failNextRefresh('invalid_client');
    const response = await api(replicaA, cookie);
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: 'refresh_unavailable' });
    expect((await me(replicaA, cookie)).status).toBe(200);
    expect(await redis.cli('EXISTS', `session:${sessionIdOf(cookie)}`)).toBe('1');
    const logged = logLines(replicaA).find((line) => line.event === 'refresh_failed' && line.reason === 'provider_rejected_client');
    expect(logged).toMatchObject({ level: 'error', provider_status: 401, provider_error: 'invalid_client', provider_error_description: 'Bad client secret (simulated)' });
    expect((await scrapeMetrics(replicaA.adminUrl)).value('bff_token_refreshes_total', { outcome: 'client_rejected' })).toBe(1);
  });

  it('does not bring a session back when the logout lands while its refresh is under way', async () => {
    const cookie = await expiredSession();
    const id = sessionIdOf(cookie);
    const grantsBefore = idp.counters.refreshGrants;
    // The grant waits at the provider until the logout below has deleted the session and is revoking the refresh
    // token (held too); the grant is then answered first, as a provider that had it under way would: the order
    // comes from the test, not from how fast a loaded machine runs.
    const grant = idp.holdRequests('token');
    const revocation = idp.holdRequests('revocation');
    let pending: Promise<Response>;
    let logout: Promise<Response> | undefined;
    try {
      pending = api(replicaA, cookie);
      await waitUntil('the refresh grant at the provider', 15_000, () => grant.held() === 1);
      logout = fetch(`${replicaB.url}/auth/logout`, {
        method: 'POST',
        headers: { cookie, 'x-csrf': '1', accept: 'application/json' },
      });
      await waitUntil('the logout revoking its refresh token', 15_000, () => revocation.held() === 1);
      grant.release();
      await waitUntil('the refresh granted', 15_000, () => idp.counters.refreshGrants === grantsBefore + 1);
    } finally {
      grant.release();
      revocation.release();
    }
    expect((await logout).status).toBe(200);

    const response = await pending;
    expect(response.status).toBe(401);
    // The provider did grant the refresh: the gateway discarded the new tokens.
    await waitUntil('the late tokens discarded', 15_000, () => replicaA.logs.some((line) => line.includes('"refresh_discarded"')));
    expect(idp.counters.refreshGrants).toBe(grantsBefore + 1);
    expect(await redis.cli('EXISTS', `session:${id}`)).toBe('0');
    expect((await me(replicaA, cookie)).status).toBe(401);
  });
});
