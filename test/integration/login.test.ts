import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBrowser, finishLogin, loginThroughProvider, startLogin, type Browser } from '../support/browser-login.js';
import { parseTransaction, serializeTransaction } from '../../src/oidc/login-transaction.js';
import { json } from '../support/http.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

const admin = { username: 'admin', password: 'test' };
const HTML = { accept: 'text/html' };
const JSON_ACCEPT = { accept: 'application/json' };

let idp: TestIdentityProvider;
let gw: TestGateway;

beforeAll(async () => {
  idp = await startIdentityProvider();
  gw = await startTestGateway({ idp });
});
afterAll(async () => {
  await gw?.close();
  await idp?.close();
});

async function login(returnTo = '/'): Promise<Browser> {
  const { browser, finalResponse } = await loginThroughProvider(`${gw.publicUrl}/auth/login?returnTo=${encodeURIComponent(returnTo)}`, admin);
  expect(finalResponse.status).toBe(302);
  return browser;
}

describe('GET /auth/login', () => {
  it('redirects to the authorization endpoint with code flow, state, nonce and an S256 challenge', async () => {
    const browser = createBrowser();
    const response = await browser.fetch(`${gw.publicUrl}/auth/login?returnTo=/app&prompt=login&kc_idp_hint=github&ui_locales=de&bogus=1`);
    expect(response.status).toBe(302);
    const url = new URL(response.headers.get('location')!);
    expect(url.origin + url.pathname).toMatch(new RegExp(`^${idp.issuer}`));
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      response_type: 'code',
      client_id: 'bff',
      redirect_uri: `${gw.publicUrl}/auth/callback`,
      scope: 'openid profile email',
      code_challenge_method: 'S256',
      prompt: 'login',
      kc_idp_hint: 'github',
      ui_locales: 'de',
    });
    expect(url.searchParams.get('state')).toMatch(/^[\w-]{40,}$/);
    expect(url.searchParams.get('nonce')).toMatch(/^[\w-]{40,}$/);
    expect(url.searchParams.get('code_challenge')).toMatch(/^[\w-]{43}$/);
    expect(url.searchParams.has('bogus')).toBe(false);

    const binding = browser.jar.list(gw.publicUrl).find((c) => c.name.startsWith('bff_session_tx_'));
    expect(binding?.name).toMatch(/^bff_session_tx_[0-9a-f]{8}$/);
    expect(binding).toMatchObject({ httpOnly: true, path: '/auth/callback' });
    expect(binding?.sameSite?.toLowerCase()).toBe('lax');
    expect(binding?.raw).toMatch(/max-age=600/i);
    expect(response.headers.get('cache-control')).toBe('no-store');
  });
});

describe('a full login', () => {
  it('sets one HttpOnly SameSite=Lax cookie, redirects to returnTo and shows the user without any token', async () => {
    const { browser, finalResponse } = await loginThroughProvider(`${gw.publicUrl}/auth/login?returnTo=/reports?year=2026`, admin);
    expect(finalResponse.status).toBe(302);
    expect(finalResponse.headers.get('location')).toBe('/reports?year=2026');
    const cookies = browser.jar.list(gw.publicUrl);
    expect(cookies.map((c) => c.name)).toEqual(['bff_session']);
    const session = cookies[0]!;
    expect(session).toMatchObject({ httpOnly: true, path: '/', secure: false });
    expect(session.sameSite?.toLowerCase()).toBe('lax');

    const me = await browser.fetch(`${gw.publicUrl}/auth/me`);
    expect(me.status).toBe(200);
    expect(me.headers.get('cache-control')).toBe('no-store');
    const text = await me.text();
    const body = JSON.parse(text);
    expect(body.user).toMatchObject({
      preferred_username: 'admin',
      name: 'Admin User',
      email: 'admin@example.test',
      roles: ['admin', 'bff-admin', 'user'],
    });
    for (const claim of ['iss', 'aud', 'exp', 'iat', 'nonce', 'sid', 'at_hash', 'azp', 'auth_time']) {
      expect(body.user, claim).not.toHaveProperty(claim);
    }
    expect(new Date(body.session.created_at).toISOString()).toBe(body.session.created_at);
    expect(Date.parse(body.session.expires_at)).toBeGreaterThan(Date.parse(body.session.created_at));
    expect(Number.isInteger(body.session.expires_in)).toBe(true);
    expect(body.session.expires_in).toBeLessThanOrEqual((Date.parse(body.session.expires_at) - Date.now()) / 1000 + 1);
    expect(body.session.expires_in).toBeGreaterThan(0);
    expect(body.session).not.toHaveProperty('idle_expires_at'); // no SESSION_IDLE_TIMEOUT_SECONDS here
    expect(text).not.toMatch(/eyJ[\w-]+\.eyJ/); // no JWT anywhere in the answer
    expect(text).not.toContain(session.value.split('.')[0]!);
  });

  it('lets several tabs log in at once: each callback finds its own transaction', async () => {
    const browser = createBrowser();
    const tab1 = await startLogin(`${gw.publicUrl}/auth/login?returnTo=/one`, { ...admin, browser });
    const tab2 = await startLogin(`${gw.publicUrl}/auth/login?returnTo=/two`, { ...admin, browser });
    const second = await finishLogin(tab2);
    const first = await finishLogin(tab1);
    expect(second.finalResponse.headers.get('location')).toBe('/two');
    expect(first.finalResponse.headers.get('location')).toBe('/one');
    expect((await browser.fetch(`${gw.publicUrl}/auth/me`)).status).toBe(200);
  });

  it('replaces the old session at re-login: the previous cookie no longer works', async () => {
    const browser = await login();
    const oldCookie = browser.jar.get(gw.publicUrl, 'bff_session')!.value;
    await loginThroughProvider(`${gw.publicUrl}/auth/login`, { ...admin, browser });
    const newCookie = browser.jar.get(gw.publicUrl, 'bff_session')!.value;
    expect(newCookie).not.toBe(oldCookie);
    const stale = await fetch(`${gw.publicUrl}/auth/me`, { headers: { cookie: `bff_session=${oldCookie}` } });
    expect(stale.status).toBe(401);
    expect((await browser.fetch(`${gw.publicUrl}/auth/me`)).status).toBe(200);
  });

  it.each([
    '//evil.example/x',
    'https://evil.example/',
    '/\\evil.example',
    '/%2F%2Fevil.example',
    '%2F%2Fevil.example',
    '/%5Cevil.example',
    'javascript:alert(1)',
  ])('sends the browser to / instead of returnTo=%s', async (returnTo) => {
    const { finalResponse } = await loginThroughProvider(`${gw.publicUrl}/auth/login?returnTo=${encodeURIComponent(returnTo)}`, admin);
    expect(finalResponse.headers.get('location')).toBe('/');
  });
});

describe('GET /auth/callback refuses', () => {
  it('an unknown state with 400 invalid_state', async () => {
    const pending = await startLogin(`${gw.publicUrl}/auth/login`, admin);
    const url = new URL(pending.callbackUrl);
    const state = url.searchParams.get('state')!;
    url.searchParams.set('state', `${state.slice(0, -2)}xx`);
    const response = await pending.browser.fetch(url, { headers: JSON_ACCEPT });
    expect(response.status).toBe(400);
    // The binding cookie is named for the real state, so a forged state has no binding either.
    expect((await json(response)).error).toMatch(/^(invalid_state|state_not_bound)$/);
    expect(pending.jar.get(gw.publicUrl, 'bff_session')).toBeUndefined();
  });

  it('a replayed callback with 400 and no second session', async () => {
    const pending = await startLogin(`${gw.publicUrl}/auth/login`, admin);
    const first = await finishLogin(pending);
    expect(first.finalResponse.status).toBe(302);
    const cookie = pending.jar.get(gw.publicUrl, 'bff_session')!.value;
    // Replay with the binding cookie put back: the transaction itself is consumed.
    const binding = first.finalResponse.headers.getSetCookie().find((c) => c.startsWith('bff_session_tx_'))!.split('=')[0]!;
    const replay = await fetch(pending.callbackUrl, {
      headers: { ...JSON_ACCEPT, cookie: `${binding}=${await bindingValueFor(pending.callbackUrl)}; bff_session=${cookie}` },
    });
    expect(replay.status).toBe(400);
    expect((await json(replay)).error).toMatch(/^(invalid_state|state_not_bound)$/);
    expect(replay.headers.getSetCookie().some((c) => c.startsWith('bff_session=') && !c.startsWith('bff_session=;'))).toBe(false);
  });

  it('a callback without its binding cookie (login CSRF) with 400 state_not_bound', async () => {
    const attacker = await startLogin(`${gw.publicUrl}/auth/login`, admin);
    const victim = createBrowser();
    const response = await victim.fetch(attacker.callbackUrl, { headers: JSON_ACCEPT });
    expect(response.status).toBe(400);
    expect(await json(response)).toEqual({ error: 'state_not_bound', message: expect.any(String) });
    expect(victim.jar.get(gw.publicUrl, 'bff_session')).toBeUndefined();
    // The attacker's own transaction was not burnt by the refused attempt.
    expect((await finishLogin(attacker)).finalResponse.status).toBe(302);
  });

  it('error= from the provider with 400: an HTML page for browsers, JSON otherwise', async () => {
    const browser = createBrowser();
    const loginResponse = await browser.fetch(`${gw.publicUrl}/auth/login`);
    const state = new URL(loginResponse.headers.get('location')!).searchParams.get('state')!;
    const url = `${gw.publicUrl}/auth/callback?error=access_denied&error_description=user+cancelled&state=${state}`;
    const html = await browser.fetch(url, { headers: HTML });
    expect(html.status).toBe(400);
    expect(html.headers.get('content-type')).toMatch(/text\/html/);
    expect(await html.text()).toContain('access_denied');

    const noState = await fetch(`${gw.publicUrl}/auth/callback?error=access_denied`, { headers: JSON_ACCEPT });
    expect(noState.status).toBe(400);
    expect(await json(noState)).toMatchObject({ error: 'provider_error' });
  });

  it('a code that was already redeemed with 400 invalid_grant', async () => {
    const first = await loginThroughProvider(`${gw.publicUrl}/auth/login`, admin);
    const usedCode = new URL(first.callbackUrl).searchParams.get('code')!;
    const second = await startLogin(`${gw.publicUrl}/auth/login`, { ...admin, browser: first.browser });
    const forged = new URL(second.callbackUrl);
    forged.searchParams.set('code', usedCode);
    const response = await finishLogin(second, { callbackUrl: forged.href, headers: JSON_ACCEPT });
    expect(response.finalResponse.status).toBe(400);
    expect((await json(response.finalResponse)).error).toBe('invalid_grant');
  });

  it('repeated parameters with 400 invalid_request', async () => {
    const response = await fetch(`${gw.publicUrl}/auth/callback?code=a&code=b&state=s`, { headers: JSON_ACCEPT });
    expect(response.status).toBe(400);
    expect((await json(response)).error).toBe('invalid_request');
  });

  it.each([
    ['invalid_client', 401, 'Bad client secret (simulated)'],
    ['unauthorized_client', 403, 'Client is not allowed this grant (simulated)'],
  ] as const)(
    'a provider refusing our client credentials (%s, %i) with 502 provider_rejected_client and an error log line naming its answer',
    async (failure, status, description) => {
      const pending = await startLogin(`${gw.publicUrl}/auth/login`, admin);
      idp.failNextCodeExchange(failure);
      const logsBefore = gw.logs.length;
      const { finalResponse } = await finishLogin(pending, { headers: JSON_ACCEPT });
      expect(finalResponse.status).toBe(502);
      expect(await json(finalResponse)).toMatchObject({ error: 'provider_rejected_client' });
      expect(pending.jar.get(gw.publicUrl, 'bff_session')).toBeUndefined();
      const logged = gw.logs.slice(logsBefore).map((line) => JSON.parse(line)).find((line) => line.event === 'provider_rejected_client');
      expect(logged).toMatchObject({ level: 'error', provider_status: status, provider_error: failure, provider_error_description: description });
    },
  );

  it('with 503 when the provider cannot be reached, leaving no session behind', async () => {
    const pending = await startLogin(`${gw.publicUrl}/auth/login`, admin);
    idp.setDown(true);
    try {
      const { finalResponse } = await finishLogin(pending, { headers: JSON_ACCEPT });
      expect(finalResponse.status).toBe(503);
      expect(await json(finalResponse)).toMatchObject({ error: 'provider_unavailable' });
      expect(pending.jar.get(gw.publicUrl, 'bff_session')).toBeUndefined();
    } finally {
      idp.setDown(false);
    }
  });
});

describe('GET /auth/callback with a login transaction rewritten in the store', () => {
  it('still sends the browser only to a same-origin path', async () => {
    const pending = await startLogin(`${gw.publicUrl}/auth/login?returnTo=${encodeURIComponent('/orders')}`, admin);
    const state = new URL(pending.callbackUrl).searchParams.get('state')!;
    // Someone with write access to the store (not to SESSION_SECRET) points the pending login elsewhere.
    const stored = parseTransaction((await gw.store.takeOnce(`tx:${state}`))!)!;
    await gw.store.putOnce(`tx:${state}`, serializeTransaction({ ...stored, returnTo: 'https://evil.example/phish' }), 60_000);
    const { finalResponse } = await finishLogin(pending);
    expect(finalResponse.status).toBe(302);
    expect(finalResponse.headers.get('location')).toBe('/');
  });
});

describe('GET /auth/callback with a provider slower than OIDC_TIMEOUT_MS', () => {
  it('answers 503 provider_unavailable, not 400, and leaves no session behind', async () => {
    const impatient = await startTestGateway({ idp, env: { OIDC_TIMEOUT_MS: '300' } });
    try {
      const pending = await startLogin(`${impatient.publicUrl}/auth/login`, admin);
      idp.setLatencyMs(1_000);
      const { finalResponse } = await finishLogin(pending, { headers: JSON_ACCEPT });
      expect(finalResponse.status).toBe(503);
      expect(await json(finalResponse)).toMatchObject({ error: 'provider_unavailable' });
      expect(pending.jar.get(impatient.publicUrl, 'bff_session')).toBeUndefined();
    } finally {
      idp.setLatencyMs(0);
      await impatient.close();
    }
  });
});

describe('GET /auth/me', () => {
  it('answers 401 without a cookie', async () => {
    const response = await fetch(`${gw.publicUrl}/auth/me`);
    expect(response.status).toBe(401);
    expect(await json(response)).toEqual({ error: 'unauthenticated', message: expect.any(String) });
  });

  it.each([
    ['tampered', (v: string) => `${v.slice(0, 10)}${v[10] === 'A' ? 'B' : 'A'}${v.slice(11)}`],
    ['truncated', (v: string) => v.slice(0, 40)],
    ['garbage', () => '%%%not-a-cookie'],
    ['oversized', (v: string) => v.repeat(40)],
  ])('answers 401 and clears a %s cookie', async (_name, mangle) => {
    const browser = await login();
    const value = browser.jar.get(gw.publicUrl, 'bff_session')!.value;
    const response = await fetch(`${gw.publicUrl}/auth/me`, { headers: { cookie: `bff_session=${mangle(value)}` } });
    expect(response.status).toBe(401);
    expect(response.headers.getSetCookie().some((c) => /^bff_session=;/.test(c) && /expires=Thu, 01 Jan 1970/i.test(c))).toBe(true);
  });
});

describe('POST /auth/logout', () => {
  it('needs X-CSRF: 1 or our Origin, and refuses a foreign Origin', async () => {
    const browser = await login();
    expect((await browser.fetch(`${gw.publicUrl}/auth/logout`, { method: 'POST', headers: JSON_ACCEPT })).status).toBe(403);
    const foreign = await browser.fetch(`${gw.publicUrl}/auth/logout`, {
      method: 'POST',
      headers: { ...JSON_ACCEPT, origin: 'https://evil.example', 'x-csrf': '1' },
    });
    expect(foreign.status).toBe(403);
    expect((await json(foreign)).error).toBe('origin_mismatch');
    expect((await browser.fetch(`${gw.publicUrl}/auth/me`)).status).toBe(200);
  });

  it('ends the session, revokes the refresh token and hands out the end-session URL with id_token_hint', async () => {
    const browser = await login();
    const revocationsBefore = idp.counters.revocations;
    const response = await browser.fetch(`${gw.publicUrl}/auth/logout`, { method: 'POST', headers: { ...JSON_ACCEPT, 'x-csrf': '1' } });
    expect(response.status).toBe(200);
    const { logout_url: logoutUrl } = await json(response);
    const url = new URL(logoutUrl);
    expect(url.href.startsWith(idp.issuer)).toBe(true);
    expect(url.searchParams.get('id_token_hint')).toMatch(/^eyJ/);
    expect(url.searchParams.get('post_logout_redirect_uri')).toBe(`${gw.publicUrl}/`);
    expect(url.searchParams.has('client_id')).toBe(false); // the contract's shape: client_id only without a session
    // A random state: harmless where unused, and some providers (Glewlwyd) redirect back only with one.
    expect(url.searchParams.get('state')).toMatch(/^[\w-]{20,}$/);
    expect(browser.jar.get(gw.publicUrl, 'bff_session')).toBeUndefined();
    expect(idp.counters.revocations).toBe(revocationsBefore + 1);
    expect((await browser.fetch(`${gw.publicUrl}/auth/me`)).status).toBe(401);
  });

  it('answers a refused browser form post with an HTML page, fetch() with JSON', async () => {
    const form = await fetch(`${gw.publicUrl}/auth/logout`, {
      method: 'POST',
      headers: { ...HTML, 'sec-fetch-mode': 'navigate', origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
      body: '',
    });
    expect(form.status).toBe(403);
    expect(form.headers.get('content-type')).toMatch(/^text\/html/);
    expect(form.headers.get('cache-control')).toBe('no-store');
    const api = await fetch(`${gw.publicUrl}/auth/logout`, { method: 'POST', headers: { accept: '*/*', origin: 'https://evil.example' } });
    expect(api.status).toBe(403);
    expect(api.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('redirects a same-origin form post to the end-session URL', async () => {
    const browser = await login();
    const response = await browser.fetch(`${gw.publicUrl}/auth/logout`, {
      method: 'POST',
      headers: { ...HTML, origin: gw.publicUrl, 'content-type': 'application/x-www-form-urlencoded' },
      body: '',
    });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toMatch(/id_token_hint=/);
  });

  it('answers the same without a session, with client_id instead of id_token_hint', async () => {
    const response = await fetch(`${gw.publicUrl}/auth/logout`, { method: 'POST', headers: { ...JSON_ACCEPT, 'x-csrf': '1' } });
    expect(response.status).toBe(200);
    const url = new URL((await json(response)).logout_url);
    expect(url.searchParams.get('client_id')).toBe('bff');
    expect(url.searchParams.has('id_token_hint')).toBe(false);
    const again = new URL((await json(await fetch(`${gw.publicUrl}/auth/logout`, { method: 'POST', headers: { ...JSON_ACCEPT, 'x-csrf': '1' } }))).logout_url);
    expect(again.searchParams.get('state')).toMatch(/^[\w-]{20,}$/);
    expect(again.searchParams.get('state')).not.toBe(url.searchParams.get('state'));
  });

  it('still logs out when the provider refuses our client credentials at revocation, and says so at error level', async () => {
    const browser = await login();
    idp.failNextRevocation('unauthorized_client');
    const logsBefore = gw.logs.length;
    const response = await browser.fetch(`${gw.publicUrl}/auth/logout`, { method: 'POST', headers: { ...JSON_ACCEPT, 'x-csrf': '1' } });
    expect(response.status).toBe(200);
    expect((await browser.fetch(`${gw.publicUrl}/auth/me`)).status).toBe(401);
    const logged = gw.logs.slice(logsBefore).map((line) => JSON.parse(line)).find((line) => line.event === 'provider_rejected_client');
    expect(logged).toMatchObject({ level: 'error', operation: 'revocation', provider_status: 403, provider_error: 'unauthorized_client' });
  });

  it('still logs out when revocation fails', async () => {
    const browser = await login();
    idp.setDown(true);
    try {
      const response = await browser.fetch(`${gw.publicUrl}/auth/logout`, { method: 'POST', headers: { ...JSON_ACCEPT, 'x-csrf': '1' } });
      expect(response.status).toBe(200);
    } finally {
      idp.setDown(false);
    }
    expect((await browser.fetch(`${gw.publicUrl}/auth/me`)).status).toBe(401);
  });
});

describe('admin listener', () => {
  it('answers /healthz, /readyz and /status', async () => {
    expect((await fetch(`${gw.adminUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${gw.adminUrl}/readyz`);
    expect(ready.status).toBe(200);
    const status = await (await fetch(`${gw.adminUrl}/status`)).json();
    expect(status).toMatchObject({ store: 'memory', connected: true, sessions: expect.any(Number) });
  });

  it('is not served on the public port', async () => {
    expect((await fetch(`${gw.publicUrl}/readyz`)).status).toBe(404);
    expect((await fetch(`${gw.publicUrl}/metrics`)).status).toBe(404);
  });
});

/** The binding cookie value is the gateway's signature of the state: recompute it the way the gateway does. */
async function bindingValueFor(callbackUrl: string): Promise<string> {
  const { createSessionCookieCodec } = await import('../../src/session/session-cookie.js');
  const { TEST_SECRET } = await import('../support/redis-store-harness.js');
  return createSessionCookieCodec([TEST_SECRET]).sign(new URL(callbackUrl).searchParams.get('state')!);
}
