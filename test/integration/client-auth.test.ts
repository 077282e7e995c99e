import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { apiHeaders, createTestClock, loginCookie, type TestClock } from '../support/proxy-test-kit.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

// Outside [A-Za-z0-9]: client_secret_basic form-encodes it, which providers that do not decode Basic credentials refuse.
const SECRET = 'bff-s3cret:+/%~';

let idp: TestIdentityProvider;
let echo: EchoApi;
let clock: TestClock;
let gw: TestGateway;

beforeAll(async () => {
  [idp, echo] = await Promise.all([startIdentityProvider({ clientSecret: SECRET, undecodedBasicCredentials: true }), createEchoApi()]);
  await idp.updateClient({ token_endpoint_auth_method: 'client_secret_post' });
  clock = createTestClock();
  gw = await startTestGateway({
    idp,
    clock: clock.now,
    env: { OIDC_CLIENT_AUTH: 'client_secret_post', PROXY_ROUTES: `/api=${echo.url}` },
  });
});
afterAll(async () => {
  await gw?.close();
  await Promise.all([echo?.close(), idp?.close()]);
});

describe('OIDC_CLIENT_AUTH=client_secret_post', () => {
  it('logs in, refreshes and revokes with the secret in the form body', async () => {
    const cookie = await loginCookie(gw);
    const grants = idp.counters.refreshGrants;
    clock.advance(300_000);
    const response = await fetch(`${gw.url}/api/x`, { headers: apiHeaders(cookie) });
    expect(response.status).toBe(200);
    expect(idp.counters.refreshGrants).toBe(grants + 1);
    const revocations = idp.counters.revocations;
    const logout = await fetch(`${gw.url}/auth/logout`, { method: 'POST', headers: { cookie, 'x-csrf': '1', accept: 'application/json' } });
    expect(logout.status).toBe(200);
    expect(idp.counters.revocations).toBe(revocations + 1);
  });

  it('is what such a provider needs: client_secret_basic sends the secret form-encoded, which it refuses (502 provider_rejected_client)', async () => {
    const basic = await startTestGateway({ idp, env: { OIDC_CLIENT_AUTH: 'client_secret_basic' } });
    try {
      await expect(loginCookie(basic)).rejects.toThrow(/login ended with 502/);
      expect(basic.logs.some((line) => line.includes('"provider_error":"invalid_client"'))).toBe(true);
    } finally {
      await basic.close();
    }
  });
});
