import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loginCookie, sessionIdOf } from '../support/proxy-test-kit.js';
import { startIdentityProvider, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

let idp: TestIdentityProvider;
let gateway: TestGateway;

beforeAll(async () => {
  idp = await startIdentityProvider({ extraClients: [{ client_id: 'orders-api', client_secret: 'orders-secret', redirect_uris: ['http://127.0.0.1:1/cb'] }] });
  gateway = await startTestGateway({ idp });
});

afterAll(async () => {
  await gateway?.close();
  await idp?.close();
});

/** A logged-in user's access token, as the gateway holds it. */
async function userAccessToken(): Promise<string> {
  const cookie = await loginCookie(gateway);
  const record = await gateway.store.get(sessionIdOf(cookie));
  return record!.tokens.access_token;
}

async function token(form: Record<string, string>, clientId = TEST_CLIENT_ID, secret = TEST_CLIENT_SECRET) {
  const response = await fetch(`${idp.issuer}/protocol/openid-connect/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('token exchange (RFC 8693, as Keycloak answers it)', () => {
  it('exchanges a user access token for one with the requested audience and the same user', async () => {
    const subject = await userAccessToken();
    const before = idp.counters.tokenExchangeGrants;
    const { status, body } = await token({
      grant_type: EXCHANGE,
      subject_token: subject,
      subject_token_type: ACCESS_TOKEN,
      requested_token_type: ACCESS_TOKEN,
      audience: 'orders-api',
    });
    expect(status).toBe(200);
    expect(body).toMatchObject({ token_type: 'Bearer', issued_token_type: ACCESS_TOKEN, expires_in: 300 });
    const claims = decodeJwt(String(body['access_token']));
    expect(claims).toMatchObject({ iss: idp.issuer, aud: 'orders-api', azp: TEST_CLIENT_ID, sub: decodeJwt(subject).sub });
    expect(claims['realm_access']).toEqual({ roles: ['admin', 'user'] });
    expect(idp.counters.tokenExchangeGrants - before).toBe(1);
  });

  it('refuses an audience that is no client, another requested token type, a forged subject token and a session that ended', async () => {
    const subject = await userAccessToken();
    const base = { grant_type: EXCHANGE, subject_token: subject, subject_token_type: ACCESS_TOKEN };
    expect(await token({ ...base, audience: 'nobody' })).toMatchObject({ status: 400, body: { error: 'invalid_client' } });
    expect(await token({ ...base, audience: 'orders-api', requested_token_type: 'urn:ietf:params:oauth:token-type:id_token' })).toMatchObject({
      status: 400,
      body: { error: 'invalid_request' },
    });
    const [h, p] = subject.split('.');
    expect(await token({ ...base, subject_token: `${h}.${p}.AAAA`, audience: 'orders-api' })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    await idp.endSessionsOf('admin');
    expect(await token({ ...base, audience: 'orders-api' })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
  });
});

describe('client credentials', () => {
  it('issues a JWT access token to a confidential client, counted', async () => {
    const before = idp.counters.clientCredentialsGrants;
    const { status, body } = await token({ grant_type: 'client_credentials' });
    expect(status).toBe(200);
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 300 });
    expect(decodeJwt(String(body['access_token']))).toMatchObject({ iss: idp.issuer, client_id: TEST_CLIENT_ID });
    expect(idp.counters.clientCredentialsGrants - before).toBe(1);
  });

  it('refuses a wrong client secret', async () => {
    expect((await token({ grant_type: 'client_credentials' }, TEST_CLIENT_ID, 'wrong')).status).toBe(401);
  });
});
