/**
 * The whole flow against a real Glewlwyd 2.7 (Debian's package, see
 * test/support/start-glewlwyd.ts), with two replicas sharing one Redis: login
 * through its REST API (what its login page does), /auth/me with its own
 * `roles` claim, the proxy with its JWT access token, two refreshes with
 * rotating one-time refresh tokens, logout at its end-session endpoint and
 * back, its back-channel logout ending sessions on the other replica, and a
 * revoked refresh token (answered 400 with an empty body).
 */
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { finishLogin, type Browser } from '../support/browser-login.js';
import { sessionIdOf } from '../support/gateway-user.js';
import { waitUntil } from '../support/wait-for.js';
import { callApi, createSettableClock, logoutUrlFrom, meOn, sessionTokens, type SettableClock } from '../support/real-provider-kit.js';
import { loginThroughGlewlwyd, logoutThroughGlewlwyd } from '../support/glewlwyd-login.js';
import { GLEWLWYD_USER, GLEWLWYD_USER_ROLES, glewlwydMissing, startGlewlwyd, type GlewlwydProvider } from '../support/start-glewlwyd.js';
import { findFreePort, startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

const missing = glewlwydMissing();
const ACCESS_TOKEN_TTL_SECONDS = 120;
/** Inside the default 30 s refresh skew of the access token's end, yet before it (and the ID token, which lives as long) expire. */
const DUE_FOR_REFRESH_MS = (ACCESS_TOKEN_TTL_SECONDS - 20) * 1000;

describe.skipIf(missing !== undefined)(`Glewlwyd as the provider${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let glewlwyd: GlewlwydProvider;
  let redis: RedisServer;
  let echo: EchoApi;
  let clock: SettableClock;
  let a: TestGateway;
  let b: TestGateway;
  /** A third replica of the same deployment, misconfigured with a wrong client secret. */
  let wrongSecret: TestGateway;

  beforeAll(async () => {
    const port = await findFreePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    [glewlwyd, redis, echo] = await Promise.all([
      startGlewlwyd({
        redirectUris: [`${publicUrl}/auth/callback`],
        postLogoutRedirectUris: [`${publicUrl}/`],
        backchannelLogoutUri: `${publicUrl}/auth/backchannel-logout`,
        accessTokenTtlSeconds: ACCESS_TOKEN_TTL_SECONDS,
      }),
      startRedis(),
      createEchoApi(),
    ]);
    clock = createSettableClock();
    const env = {
      OIDC_SCOPES: 'openid profile email',
      // Glewlwyd takes Basic credentials too (only unencoded ones); the form post avoids the question.
      OIDC_CLIENT_AUTH: 'client_secret_post',
      PROXY_ROUTES: `/api=${echo.url}`,
    };
    a = await startTestGateway({ idp: glewlwyd, port, redisUrl: redis.url, clock: clock.now, env });
    b = await startTestGateway({ idp: glewlwyd, publicUrl: a.publicUrl, redisUrl: redis.url, clock: clock.now, env });
    wrongSecret = await startTestGateway({
      idp: glewlwyd,
      publicUrl: a.publicUrl,
      redisUrl: redis.url,
      clock: clock.now,
      env: { ...env, OIDC_CLIENT_SECRET: 'not-the-secret' },
    });
  }, 60_000);

  afterEach(() => clock?.setAhead(0));

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close(), wrongSecret?.close()]);
    await Promise.all([glewlwyd?.close(), redis?.stop(), echo?.close()]);
  });

  async function logIn(browser?: Browser): Promise<Browser> {
    const pending = await loginThroughGlewlwyd(glewlwyd, `${a.publicUrl}/auth/login`, { ...GLEWLWYD_USER, ...(browser ? { browser } : {}) });
    const { finalResponse } = await finishLogin(pending);
    expect(finalResponse.status).toBe(302);
    await finalResponse.body?.cancel();
    return pending.browser;
  }

  it('logs in through its API; /auth/me shows the user with its own roles claim on both replicas', async () => {
    const browser = await logIn();
    for (const replica of [a, b]) {
      const me = await meOn(replica, browser);
      expect(me.status).toBe(200);
      expect(me.body.user).toMatchObject({ name: 'Reader One', email: 'reader1@example.test' });
      expect(me.body.user!.roles).toEqual([...GLEWLWYD_USER_ROLES]);
    }
  });

  it('proxies API calls upstream with the JWT access token Glewlwyd signed, from either replica', async () => {
    const browser = await logIn();
    const keys = createRemoteJWKSet(new URL(`${glewlwyd.issuer}/jwks`));
    for (const replica of [a, b]) {
      const answer = await callApi(replica, browser);
      expect(answer.status).toBe(200);
      expect(decodeProtectedHeader(answer.bearer!).typ).toBe('at+jwt');
      const { payload } = await jwtVerify(answer.bearer!, keys, { issuer: glewlwyd.issuer });
      expect(payload['roles']).toBeUndefined();
      expect(answer.body.headers?.['cookie'] ?? '').not.toContain('bff_session');
    }
  });

  it('refreshes twice with rotating one-time refresh tokens, on either replica', async () => {
    const browser = await logIn();
    const id = sessionIdOf(a, browser);
    const first = await callApi(a, browser);
    const original = (await sessionTokens(redis.url, id)).refresh_token!;

    clock.setAhead(DUE_FOR_REFRESH_MS);
    const afterFirstRefresh = await callApi(a, browser);
    expect(afterFirstRefresh.status).toBe(200);
    expect(afterFirstRefresh.bearer).not.toBe(first.bearer);
    const rotated = (await sessionTokens(redis.url, id)).refresh_token!;
    expect(rotated).not.toBe(original);

    // The second refresh runs on the other replica, with the rotated token it finds in Redis.
    // (The refreshed token's end was computed on the clock set ahead: it is due again twice as far ahead.)
    clock.setAhead(2 * DUE_FOR_REFRESH_MS);
    const afterSecondRefresh = await callApi(b, browser);
    expect(afterSecondRefresh.status).toBe(200);
    expect(afterSecondRefresh.bearer).not.toBe(afterFirstRefresh.bearer);
    const rotatedAgain = (await sessionTokens(redis.url, id)).refresh_token!;
    expect(rotatedAgain).not.toBe(rotated);
    clock.setAhead(0);
    expect((await meOn(a, browser)).status).toBe(200);
    // Each refresh token was good for one use only.
    expect((await glewlwyd.refreshGrant(original)).status).toBe(400);
  });

  it('ends the session on both replicas (401) when the refresh token was revoked (400 with an empty body)', async () => {
    const browser = await logIn();
    const id = sessionIdOf(a, browser);
    await glewlwyd.revoke((await sessionTokens(redis.url, id)).refresh_token!, 'refresh_token');

    clock.setAhead(DUE_FOR_REFRESH_MS);
    const refused = await callApi(a, browser);
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ error: 'unauthenticated' });
    expect((await callApi(b, browser)).status).toBe(401);
    clock.setAhead(0);
    expect((await meOn(a, browser)).status).toBe(401);
    expect((await meOn(b, browser)).status).toBe(401);
    expect(await redis.cli('EXISTS', `session:${id}`)).toBe('0');
  });

  it('logs out at its end-session endpoint and comes back to PUBLIC_URL (which needs a state)', async () => {
    const browser = await logIn();
    const profile = async () => (await browser.fetch(`${glewlwyd.url}/api/profile_list/`, { headers: { accept: 'application/json' } })).status;
    expect(await profile()).toBe(200);
    const logoutUrl = await logoutUrlFrom(b, browser);
    expect(logoutUrl.startsWith(`${glewlwyd.issuer}/end_session?`)).toBe(true);
    expect((await meOn(a, browser)).status).toBe(401);

    const { redirectedTo } = await logoutThroughGlewlwyd(glewlwyd, logoutUrl, browser);
    expect(redirectedTo).toBeDefined();
    const back = new URL(redirectedTo!);
    expect(`${back.origin}${back.pathname}`).toBe(`${a.publicUrl}/`);
    expect(back.searchParams.get('state')).toBe(new URL(logoutUrl).searchParams.get('state'));
    // Glewlwyd's own session is over too.
    expect(await profile()).toBe(401);
  });

  it("its back-channel logout, sent to PUBLIC_URL, ends the user's other sessions of that provider session on every replica", async () => {
    // Two gateway sessions (two apps, or two tabs that each logged in) of one Glewlwyd session.
    const browser = await logIn();
    const first = browser.jar.get(a.publicUrl, 'bff_session')!.value;
    browser.jar.delete(a.publicUrl, 'bff_session');
    await logIn(browser);
    const second = browser.jar.get(a.publicUrl, 'bff_session')!.value;
    const [firstId, secondId] = [first.split('.')[0]!, second.split('.')[0]!];
    const sidOf = async (id: string) => (JSON.parse(await redis.cli('GET', `session:${id}`)) as { sid: string }).sid;
    expect(await sidOf(firstId)).toBe(await sidOf(secondId));

    // The second one logs out through replica B; Glewlwyd then posts a logout token for the sid to PUBLIC_URL (A).
    const logoutUrl = await logoutUrlFrom(b, browser);
    await logoutThroughGlewlwyd(glewlwyd, logoutUrl, browser);
    await waitUntil('the back-channel logout', 5_000, async () => (await redis.cli('EXISTS', `session:${firstId}`)) === '0');
    browser.jar.set(a.publicUrl, 'bff_session', first);
    expect((await meOn(a, browser)).status).toBe(401);
    expect((await meOn(b, browser)).status).toBe(401);
    expect(a.logs.some((line) => line.includes('"event":"backchannel_logout"'))).toBe(true);
  });

  it("answers 502 provider_rejected_client at the callback, with Glewlwyd's 403 unauthorized_client logged at error level, when the client secret is wrong", async () => {
    const pending = await loginThroughGlewlwyd(glewlwyd, `${wrongSecret.url}/auth/login`, GLEWLWYD_USER);
    // The browser comes back to PUBLIC_URL; behind the load balancer that is this replica.
    const callbackUrl = pending.callbackUrl.replace(a.publicUrl, wrongSecret.url);
    const { finalResponse } = await finishLogin(pending, { callbackUrl, headers: { accept: 'application/json' } });
    expect(finalResponse.status).toBe(502);
    expect(await finalResponse.json()).toMatchObject({ error: 'provider_rejected_client' });
    const logged = wrongSecret.logs.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line['event'] === 'provider_rejected_client');
    expect(logged).toMatchObject({ level: 'error', provider_status: 403, provider_error: 'unauthorized_client' });
  });

  it('ends the session when a replica with a wrong client secret refreshes: Glewlwyd answers 400 with an empty body there, as for a revoked token', async () => {
    // Its 403 unauthorized_client comes only at the code exchange. A 400 to a refresh ends the session whatever its
    // body (CONTRACT.md), and nothing tells this one from a revoked token: a replica with a wrong secret logs users
    // out at their next refresh (docs/providers.md says so; the callback's 502 and error line are what show it).
    const browser = await logIn();
    expect((await callApi(a, browser)).status).toBe(200);

    clock.setAhead(DUE_FOR_REFRESH_MS);
    expect((await callApi(wrongSecret, browser)).status).toBe(401);
    const logged = wrongSecret.logs.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line['event'] === 'refresh_failed');
    expect(logged).toMatchObject({ reason: 'invalid_grant', provider_error: 'no_error_code' });
    clock.setAhead(0);
    expect((await meOn(a, browser)).status).toBe(401);
    expect((await meOn(b, browser)).status).toBe(401);
  });
});
