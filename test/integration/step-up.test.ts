import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DEV_ONE_TIME_CODE } from '../../src/dev/dev-acr.js';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { finishLogin, loginThroughProvider, startLogin, type Browser } from '../support/browser-login.js';
import { createSettableClock } from '../support/real-provider-kit.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

/**
 * Step-up authentication (RFC 9470) against the dev provider, shaped like
 * Keycloak's levels of authentication: acr "1" = password, "2" = with a
 * one-time code. Two replicas share one Redis and one clock a test can move.
 */
let redis: RedisServer;
let idp: TestIdentityProvider;
let api: EchoApi;
let one: TestGateway;
let two: TestGateway;
const clock = createSettableClock();
const dir = mkdtempSync(join(tmpdir(), 'step-up-'));
const admin = { username: 'admin', password: 'test' };

interface StepUpBody {
  error?: string;
  message?: string;
  login_url?: string;
  path?: string;
  note?: string;
  headers?: Record<string, string>;
}
interface MeBody {
  session?: { acr?: string; auth_time?: string };
}

beforeAll(async () => {
  [redis, idp, api] = await Promise.all([startRedis(), startIdentityProvider(), createEchoApi()]);
  const routesFile = join(dir, 'routes.yaml');
  writeFileSync(
    routesFile,
    `
routes:
  - prefix: /payments
    target: ${api.url}/pay
    acr: ["2"]
  - prefix: /recent
    target: ${api.url}/recent
    maxAuthAgeSeconds: 600
`,
  );
  const env = { PROXY_ROUTES: `/api=${api.url}`, ROUTES_FILE: routesFile };
  one = await startTestGateway({ idp, redisUrl: redis.url, env, clock: clock.now });
  two = await startTestGateway({ idp, redisUrl: redis.url, publicUrl: one.publicUrl, env, clock: clock.now });
});

afterEach(() => clock.setAhead(0));

afterAll(async () => {
  await Promise.all([one?.close(), two?.close()]);
  await Promise.all([api?.close(), idp?.close(), redis?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

/** A browser logged in with the password only (acr "1"). */
async function weakLogin(): Promise<Browser> {
  const { browser, finalResponse } = await loginThroughProvider(`${one.publicUrl}/auth/login`, admin);
  expect(finalResponse.status).toBe(302);
  return browser;
}

function call(gateway: TestGateway, browser: Browser, path: string, headers: Record<string, string> = {}): Promise<Response> {
  const cookie = browser.jar.cookieHeaderFor(`${one.publicUrl}/`) ?? '';
  return fetch(`${gateway.url}${path}`, { headers: { cookie, 'x-csrf': '1', accept: 'application/json', ...headers } });
}

async function me(gateway: TestGateway, browser: Browser): Promise<MeBody> {
  const response = await call(gateway, browser, '/auth/me');
  expect(response.status).toBe(200);
  return (await response.json()) as MeBody;
}

/** Whether the provider showed its login form on the way (rather than answering from its SSO session). */
const askedForCredentials = (chain: string[]) => chain.some((url) => url.endsWith('/authenticate'));

describe('a route that requires acr 2', () => {
  it('answers a password-only session 401 step_up_required with the challenge and a login_url, proxying nothing', async () => {
    const browser = await weakLogin();
    const before = await me(two, browser);
    expect(before.session?.acr).toBe('1');
    expect(Date.parse(before.session?.auth_time ?? '')).toBeGreaterThan(Date.now() - 60_000);

    api.clear();
    const response = await call(two, browser, '/payments/charge', { referer: `${one.publicUrl}/checkout?step=2` });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      'Bearer error="insufficient_user_authentication", error_description="A stronger login is needed for this request; follow login_url.", acr_values="2"',
    );
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = (await response.json()) as StepUpBody;
    expect(body).toMatchObject({ error: 'step_up_required', login_url: '/auth/login?acr_values=2&returnTo=%2Fcheckout%3Fstep%3D2' });
    expect(api.requests).toHaveLength(0);

    // A page of another origin is no place to send the browser back to.
    const foreign = (await (await call(one, browser, '/payments/charge', { referer: 'https://evil.example/x' })).json()) as StepUpBody;
    expect(foreign.login_url).toBe('/auth/login?acr_values=2&returnTo=%2F');
    // A route without acr is unchanged for the same session.
    const plain = await call(one, browser, '/api/things');
    expect(plain.status).toBe(200);
    expect(((await plain.json()) as StepUpBody).headers?.['authorization']).toMatch(/^Bearer ey/);
  });

  it('lets the same browser through on the other replica once it followed login_url and gave the second factor', async () => {
    const browser = await weakLogin();
    const weak = await me(one, browser);
    const refused = (await (await call(one, browser, '/payments/charge', { referer: `${one.publicUrl}/checkout` })).json()) as StepUpBody;

    const pending = await startLogin(`${one.publicUrl}${refused.login_url}`, { ...admin, otp: DEV_ONE_TIME_CODE, browser });
    // The provider had an SSO session at level 1: it asked again (Keycloak's step-up), it did not answer from it.
    expect(askedForCredentials(pending.chain)).toBe(true);
    expect(new URL(pending.chain[1]!).searchParams.get('acr_values')).toBe('2');
    const { finalResponse } = await finishLogin(pending);
    expect(finalResponse.status).toBe(302);
    expect(finalResponse.headers.get('location')).toBe('/checkout');

    api.clear();
    const response = await call(two, browser, '/payments/charge');
    expect(response.status).toBe(200);
    const echo = (await response.json()) as StepUpBody;
    expect(echo.path).toBe('/pay/charge');
    expect(echo.headers?.['authorization']).toMatch(/^Bearer ey/);
    const strong = await me(two, browser);
    expect(strong.session?.acr).toBe('2');
    expect(Date.parse(strong.session?.auth_time ?? '')).toBeGreaterThanOrEqual(Date.parse(weak.session?.auth_time ?? ''));

    // A refresh keeps the stronger login: the refreshed ID token restates acr and auth_time.
    const refreshes = idp.counters.refreshGrants;
    clock.setAhead(400_000); // past the access token's 300 s
    expect((await call(one, browser, '/payments/charge')).status).toBe(200);
    expect(idp.counters.refreshGrants).toBe(refreshes + 1);
    expect((await me(two, browser)).session).toMatchObject({ acr: '2', auth_time: strong.session?.auth_time });
  });

  it('refuses a login that comes back weaker than acr_values asked, and keeps the browser session it had', async () => {
    const browser = await weakLogin();
    const refused = (await (await call(one, browser, '/payments/charge')).json()) as StepUpBody;
    // The user leaves the one-time code out: the provider answers with acr 1 all the same.
    const pending = await startLogin(`${one.publicUrl}${refused.login_url}`, { ...admin, browser });
    const { finalResponse } = await finishLogin(pending, { headers: { accept: 'application/json' } });
    expect(finalResponse.status).toBe(400);
    expect(await finalResponse.json()).toMatchObject({ error: 'acr_not_satisfied' });
    const warning = [...one.logs, ...two.logs].map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['event'] === 'acr_not_satisfied');
    expect(warning).toMatchObject({ level: 'warn', requested_acr: ['2'], acr: '1' });

    expect((await me(two, browser)).session?.acr).toBe('1');
    expect((await call(two, browser, '/payments/charge')).status).toBe(401);
  });

  it('refuses a WebSocket upgrade the same way', async () => {
    const browser = await weakLogin();
    const cookie = browser.jar.cookieHeaderFor(`${one.publicUrl}/`) ?? '';
    api.clear();
    const refusal = await upgrade(two, '/payments/socket', cookie);
    expect(refusal.status).toBe(401);
    expect(refusal.wwwAuthenticate).toMatch(/^Bearer error="insufficient_user_authentication", .*acr_values="2"$/);
    expect(refusal.body).toMatchObject({ error: 'step_up_required', login_url: '/auth/login?acr_values=2&returnTo=%2F' });
    expect(api.requests).toHaveLength(0);
    expect((await upgrade(two, '/api/socket', cookie)).status).toBe(101);
  });
});

describe('step-up through pushed authorization requests (OIDC_PAR=true)', () => {
  it('pushes acr_values and max_age with the rest: the browser carries only client_id and request_uri, and gets acr 2', async () => {
    const par = await startTestGateway({ idp, redisUrl: redis.url, env: { OIDC_PAR: 'true' } });
    try {
      const { browser } = await loginThroughProvider(`${par.publicUrl}/auth/login`, admin);
      const pending = await startLogin(`${par.publicUrl}/auth/login?acr_values=2&max_age=3600&returnTo=%2Fpay`, {
        ...admin,
        otp: DEV_ONE_TIME_CODE,
        browser,
      });
      const authorization = new URL(pending.chain[1]!);
      expect([...authorization.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
      expect(askedForCredentials(pending.chain)).toBe(true);
      const { finalResponse } = await finishLogin(pending);
      expect(finalResponse.headers.get('location')).toBe('/pay');
      const cookie = browser.jar.cookieHeaderFor(`${par.publicUrl}/`) ?? '';
      const me = (await (await fetch(`${par.url}/auth/me`, { headers: { cookie } })).json()) as MeBody;
      expect(me.session?.acr).toBe('2');
    } finally {
      await par.close();
    }
  });
});

describe('a route with maxAuthAgeSeconds', () => {
  it('answers 401 with max_age once the login is older than the route allows', async () => {
    const browser = await weakLogin();
    expect((await call(one, browser, '/recent/x')).status).toBe(200);
    clock.setAhead(700_000); // the login is now 700 s old for both replicas
    api.clear();
    const response = await call(two, browser, '/recent/x');
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(
      'Bearer error="insufficient_user_authentication", error_description="A more recent login is needed for this request; follow login_url.", max_age=600',
    );
    expect(await response.json()).toMatchObject({ error: 'step_up_required', login_url: '/auth/login?max_age=600&returnTo=%2F' });
    expect(api.requests).toHaveLength(0);
  });

  it('makes the provider authenticate again when /auth/login carries max_age, and not otherwise', async () => {
    const browser = await weakLogin();
    const sso = await startLogin(`${one.publicUrl}/auth/login`, { ...admin, browser });
    expect(askedForCredentials(sso.chain)).toBe(false);
    await finishLogin(sso);
    const again = await startLogin(`${one.publicUrl}/auth/login?max_age=0`, { ...admin, browser });
    expect(askedForCredentials(again.chain)).toBe(true);
    expect((await finishLogin(again)).finalResponse.status).toBe(302);
  });

  it('refuses a max_age that is not a number of seconds', async () => {
    const response = await fetch(`${one.url}/auth/login?max_age=soon`, { redirect: 'manual', headers: { accept: 'application/json' } });
    expect(response.status).toBe(400);
  });
});

describe("an upstream's own insufficient_user_authentication challenge", () => {
  it('becomes the gateway step_up_required answer with the upstream values; other 401s pass unchanged', async () => {
    const browser = await weakLogin();
    const response = await call(one, browser, '/api/step-up?acr_values=2%20gold&max_age=30', { referer: `${one.publicUrl}/orders` });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer error="insufficient_user_authentication", .*acr_values="2 gold", max_age=30$/);
    const body = (await response.json()) as StepUpBody;
    expect(body).toMatchObject({ error: 'step_up_required', login_url: '/auth/login?acr_values=2%20gold&max_age=30&returnTo=%2Forders' });
    expect(body.note).toBeUndefined(); // the upstream's body is replaced
    expect(api.lastRequest()?.path).toBe('/step-up');

    const plain401 = await call(two, browser, '/api/status/401');
    expect(plain401.status).toBe(401);
    expect(plain401.headers.get('www-authenticate')).toBeNull();
    expect(((await plain401.json()) as StepUpBody).path).toBe('/status/401');
  });
});

interface UpgradeAnswer {
  status: number;
  wwwAuthenticate?: string;
  body?: StepUpBody;
}

/** A WebSocket handshake from the gateway's own origin: 101, or the refusal's status, challenge and body. */
function upgrade(gateway: TestGateway, path: string, cookie: string): Promise<UpgradeAnswer> {
  const ws = new WebSocket(`${gateway.url.replace(/^http/, 'ws')}${path}`, [], { origin: new URL(gateway.publicUrl).origin, headers: { cookie } });
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.terminate();
      resolve({ status: 101 });
    });
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        ws.on('error', () => undefined);
        ws.terminate();
        const header = res.headers['www-authenticate'];
        resolve({ status: res.statusCode ?? 0, ...(header ? { wwwAuthenticate: header } : {}), body: JSON.parse(text) as StepUpBody });
      });
    });
    ws.once('error', reject);
  });
}

