import { afterAll, beforeAll, expect, it } from 'vitest';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { loginThroughProvider } from '../support/browser-login.js';
import { TEST_SECRET } from '../support/redis-store-harness.js';
import { startIdentityProvider, TEST_CLIENT_SECRET, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

let idp: TestIdentityProvider;
let api: EchoApi;
let gw: TestGateway;
const ADMIN_TOKEN = 'admin-token-that-must-never-be-logged';

beforeAll(async () => {
  [idp, api] = await Promise.all([startIdentityProvider({ accessTokenTtlSeconds: 60 }), createEchoApi()]);
  gw = await startTestGateway({
    idp,
    env: { LOG_LEVEL: 'trace', PROXY_ROUTES: `/api=${api.url}`, TOKEN_REFRESH_SKEW_SECONDS: '120', ADMIN_TOKEN },
  });
});
afterAll(async () => {
  await gw?.close();
  await Promise.all([idp?.close(), api?.close()]);
});

it('writes no token, cookie value, code or secret to the logs, even at trace level and through errors', async () => {
  const { browser, callbackUrl } = await loginThroughProvider(`${gw.url}/auth/login`, { username: 'admin', password: 'test' });
  const cookieValue = browser.jar.get(gw.publicUrl, 'bff_session')!.value;
  const before = (await gw.store.get(cookieValue.split('.')[0]!))!.tokens;

  await browser.fetch(`${gw.url}/auth/me`);
  // Skew > token lifetime: this call refreshes, so the rotated tokens pass through the gateway too.
  await browser.fetch(`${gw.url}/api/x`, { headers: { 'x-csrf': '1', authorization: 'Bearer client-supplied-secret' } });
  const after = (await gw.store.get(cookieValue.split('.')[0]!))!.tokens;
  idp.setDown(true);
  await browser.fetch(`${gw.url}/api/y`, { headers: { 'x-csrf': '1' } }); // refresh fails: an error path that logs
  idp.setDown(false);
  await fetch(`${gw.adminUrl}/status`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  await browser.fetch(`${gw.url}/auth/logout`, { method: 'POST', headers: { 'x-csrf': '1', accept: 'application/json' } });

  const logs = gw.logs.join('\n');
  expect(gw.logs.length).toBeGreaterThan(5);
  const secrets = {
    cookie: cookieValue,
    sessionId: cookieValue.split('.')[0]!,
    code: new URL(callbackUrl).searchParams.get('code')!,
    state: new URL(callbackUrl).searchParams.get('state')!,
    access: before.access_token,
    refresh: before.refresh_token!,
    id: before.id_token!,
    rotatedAccess: after.access_token,
    rotatedRefresh: after.refresh_token!,
    clientAuthorization: 'client-supplied-secret',
    sessionSecret: TEST_SECRET,
    clientSecret: TEST_CLIENT_SECRET,
    adminToken: ADMIN_TOKEN,
  };
  expect(after.access_token).not.toBe(before.access_token);
  for (const [name, value] of Object.entries(secrets)) expect(logs.includes(value), `${name} found in logs`).toBe(false);
  expect(logs).not.toMatch(/eyJ[\w-]{10,}\.eyJ/);
});
