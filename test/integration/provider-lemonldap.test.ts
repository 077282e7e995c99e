/**
 * The whole flow against a real LemonLDAP::NG 2.16 (Debian's package, see
 * test/support/start-lemonldap.ts), with two replicas sharing one Redis:
 * login through its form, /auth/me with its groups as roles, the proxy,
 * refresh, logout at its end-session endpoint, and the refresh it refuses
 * once its session has ended (it says `invalid_request`, not `invalid_grant`).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { finishLogin, loginThroughProvider, parseForms, startLogin, type Browser } from '../support/browser-login.js';
import { sessionIdOf } from '../support/gateway-user.js';
import { callApi, createSettableClock, logoutUrlFrom, meOn, type SettableClock } from '../support/real-provider-kit.js';
import { LEMONLDAP_USER, LEMONLDAP_USER_GROUPS, lemonldapMissing, startLemonldap, type LemonldapProvider } from '../support/start-lemonldap.js';
import { findFreePort, startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

const missing = lemonldapMissing();
const ACCESS_TOKEN_TTL_SECONDS = 120;
/** Inside the default 30 s refresh skew of the access token's end, yet before it (and the ID token) expire. */
const DUE_FOR_REFRESH_MS = (ACCESS_TOKEN_TTL_SECONDS - 20) * 1000;

describe.skipIf(missing !== undefined)(`LemonLDAP::NG as the provider${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let llng: LemonldapProvider;
  let redis: RedisServer;
  let echo: EchoApi;
  let clock: SettableClock;
  let a: TestGateway;
  let b: TestGateway;
  /** A third replica of the same deployment, misconfigured with a wrong client secret. */
  let wrongSecret: TestGateway;

  beforeAll(async () => {
    // The client is registered before LemonLDAP::NG starts, so replica A's port is chosen first.
    const port = await findFreePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    [llng, redis, echo] = await Promise.all([
      startLemonldap({
        redirectUris: [`${publicUrl}/auth/callback`],
        postLogoutRedirectUris: [`${publicUrl}/`],
        accessTokenTtlSeconds: ACCESS_TOKEN_TTL_SECONDS,
      }),
      startRedis(),
      createEchoApi(),
    ]);
    clock = createSettableClock();
    const env = {
      OIDC_SCOPES: 'openid profile email groups',
      // LemonLDAP::NG releases the user's groups as `groups`; nothing Keycloak-shaped.
      OIDC_ROLES_CLAIMS: 'groups',
      PROXY_ROUTES: `/api=${echo.url}`,
    };
    a = await startTestGateway({ idp: llng, port, redisUrl: redis.url, clock: clock.now, env });
    b = await startTestGateway({ idp: llng, publicUrl: a.publicUrl, redisUrl: redis.url, clock: clock.now, env });
    wrongSecret = await startTestGateway({
      idp: llng,
      publicUrl: a.publicUrl,
      redisUrl: redis.url,
      clock: clock.now,
      env: { ...env, OIDC_CLIENT_SECRET: 'not-the-secret' },
    });
  }, 60_000);

  afterEach(() => clock?.setAhead(0));

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close(), wrongSecret?.close()]);
    await Promise.all([llng?.close(), redis?.stop(), echo?.close()]);
  });

  async function logIn(): Promise<Browser> {
    const { browser, finalResponse } = await loginThroughProvider(`${a.publicUrl}/auth/login`, { ...LEMONLDAP_USER, usernameField: 'user' });
    expect(finalResponse.status).toBe(302);
    await finalResponse.body?.cancel();
    return browser;
  }

  /** Whether LemonLDAP::NG's portal asks this browser for a password (no SSO session there). */
  async function portalAsksForPassword(browser: Browser): Promise<boolean> {
    const response = await browser.fetch(`${llng.url}/`, { headers: { accept: 'text/html' } });
    const html = await response.text();
    // Its menu, shown to a signed-in user, has a change-password form too: the login form is the one with `user`.
    return parseForms(html, `${llng.url}/`).some((form) => 'user' in form.fields && form.passwordFields.length > 0);
  }

  it('logs in through its login form; /auth/me shows the user and its groups as roles on both replicas', async () => {
    const browser = await logIn();
    for (const replica of [a, b]) {
      const me = await meOn(replica, browser);
      expect(me.status).toBe(200);
      expect(me.body.user).toMatchObject({ sub: LEMONLDAP_USER.username, preferred_username: 'dwho', name: 'Doctor Who', email: 'dwho@badwolf.org' });
      expect([...(me.body.user!['groups'] as string[])].sort()).toEqual([...LEMONLDAP_USER_GROUPS]);
      expect(me.body.user!.roles).toEqual([...LEMONLDAP_USER_GROUPS]);
    }
  });

  it('proxies API calls upstream with an access token LemonLDAP::NG accepts, from either replica', async () => {
    const browser = await logIn();
    for (const replica of [a, b]) {
      const answer = await callApi(replica, browser);
      expect(answer.status).toBe(200);
      expect(answer.bearer).toBeDefined();
      expect(answer.body.headers?.['cookie'] ?? '').not.toContain('bff_session');
      const userinfo = await fetch(`${llng.url}/oauth2/userinfo`, { headers: { authorization: `Bearer ${answer.bearer}` } });
      expect(userinfo.status).toBe(200);
      expect(await userinfo.json()).toMatchObject({ sub: LEMONLDAP_USER.username });
    }
  });

  it('refreshes a due access token at LemonLDAP::NG, twice, on either replica, and keeps the session', async () => {
    const browser = await logIn();
    const first = await callApi(a, browser);
    expect(first.status).toBe(200);

    clock.setAhead(DUE_FOR_REFRESH_MS);
    const afterFirstRefresh = await callApi(a, browser);
    expect(afterFirstRefresh.status).toBe(200);
    expect(afterFirstRefresh.bearer).not.toBe(first.bearer);
    clock.setAhead(0);
    // The other replica uses the refreshed token as it is, without a refresh of its own.
    expect((await callApi(b, browser)).bearer).toBe(afterFirstRefresh.bearer);

    // The refreshed token's end was computed on the clock set ahead: it is due again twice as far ahead.
    clock.setAhead(2 * DUE_FOR_REFRESH_MS);
    const afterSecondRefresh = await callApi(b, browser);
    expect(afterSecondRefresh.status).toBe(200);
    expect(afterSecondRefresh.bearer).not.toBe(afterFirstRefresh.bearer);
    const userinfo = await fetch(`${llng.url}/oauth2/userinfo`, { headers: { authorization: `Bearer ${afterSecondRefresh.bearer}` } });
    expect(userinfo.status).toBe(200);
    clock.setAhead(0);
    expect((await meOn(a, browser)).status).toBe(200);
  });

  it('logs out at its end-session endpoint, ending its session too, and comes back to PUBLIC_URL', async () => {
    const browser = await logIn();
    expect(await portalAsksForPassword(browser)).toBe(false);
    const logoutUrl = await logoutUrlFrom(b, browser);
    expect(logoutUrl.startsWith(`${llng.url}/oauth2/logout?`)).toBe(true);
    expect((await meOn(a, browser)).status).toBe(401);
    expect((await meOn(b, browser)).status).toBe(401);

    const { leftTo } = await browser.follow(logoutUrl, { stayOn: (next) => next.origin === llng.url, init: { headers: { accept: 'text/html' } } });
    expect(leftTo).toBeDefined();
    const back = new URL(leftTo!);
    expect(`${back.origin}${back.pathname}`).toBe(`${a.publicUrl}/`);
    expect(await portalAsksForPassword(browser)).toBe(true);
  });

  it('ends the session on both replicas (401) when LemonLDAP::NG refuses a refresh because its own session ended (400 invalid_grant)', async () => {
    const browser = await logIn();
    const id = sessionIdOf(a, browser);
    expect((await callApi(a, browser)).status).toBe(200);
    // The user signs out at the portal itself: an online refresh token dies with the portal session.
    const portalLogout = await browser.fetch(`${llng.url}/?logout=1`, { headers: { accept: 'text/html' } });
    await portalLogout.body?.cancel();
    expect(await portalAsksForPassword(browser)).toBe(true);

    clock.setAhead(DUE_FOR_REFRESH_MS);
    const refused = await callApi(a, browser);
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ error: 'unauthenticated' });
    clock.setAhead(0);
    expect((await meOn(a, browser)).status).toBe(401);
    expect((await meOn(b, browser)).status).toBe(401);
    expect(await redis.cli('EXISTS', `session:${id}`)).toBe('0');
  });

  it('ends the session on both replicas (401) when LemonLDAP::NG no longer knows the refresh token (400 invalid_request)', async () => {
    const browser = await logIn();
    const id = sessionIdOf(a, browser);
    // What its session purge does to an expired refresh token.
    await llng.deleteRefreshTokens();

    clock.setAhead(DUE_FOR_REFRESH_MS);
    const refused = await callApi(b, browser);
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ error: 'unauthenticated' });
    // One refusal ends it: no refresh grant per request afterwards.
    expect((await callApi(a, browser)).status).toBe(401);
    clock.setAhead(0);
    expect((await meOn(a, browser)).status).toBe(401);
    expect((await meOn(b, browser)).status).toBe(401);
    expect(await redis.cli('EXISTS', `session:${id}`)).toBe('0');
  });

  it("answers 502 provider_rejected_client at the callback, with LemonLDAP::NG's invalid_client logged at error level, when the client secret is wrong", async () => {
    const pending = await startLogin(`${wrongSecret.url}/auth/login`, { ...LEMONLDAP_USER, usernameField: 'user' });
    // The browser comes back to PUBLIC_URL; behind the load balancer that is this replica.
    const callbackUrl = pending.callbackUrl.replace(a.publicUrl, wrongSecret.url);
    const { finalResponse } = await finishLogin(pending, { callbackUrl, headers: { accept: 'application/json' } });
    expect(finalResponse.status).toBe(502);
    expect(await finalResponse.json()).toMatchObject({ error: 'provider_rejected_client' });
    expect(finalResponse.headers.getSetCookie().some((c) => c.startsWith('bff_session=') && !c.startsWith('bff_session=;'))).toBe(false);
    const logged = wrongSecret.logs.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line['event'] === 'provider_rejected_client');
    expect(logged).toMatchObject({ level: 'error', provider_status: 401, provider_error: 'invalid_client' });
  });

  it('keeps the session and forwards with the still-valid token when LemonLDAP::NG refuses the client at refresh (401 invalid_client)', async () => {
    const browser = await logIn();
    const before = await callApi(a, browser);
    expect(before.status).toBe(200);

    // Due for a refresh (inside the skew window) but not expired: the refused refresh forwards with the current token.
    clock.setAhead(DUE_FOR_REFRESH_MS);
    const answer = await callApi(wrongSecret, browser);
    expect(answer.status).toBe(200);
    expect(answer.bearer).toBe(before.bearer);
    const logged = wrongSecret.logs.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line['event'] === 'refresh_failed');
    expect(logged).toMatchObject({ level: 'error', reason: 'provider_rejected_client', provider_error: 'invalid_client' });
    clock.setAhead(0);
    expect((await meOn(a, browser)).status).toBe(200);
    expect((await callApi(b, browser)).status).toBe(200);
  });
});
