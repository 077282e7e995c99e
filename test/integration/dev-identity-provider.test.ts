import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import {
  createBrowser,
  finishLogin,
  LoginFailedError,
  loginThroughProvider,
  logoutThroughProvider,
  startLogin,
  type Browser,
} from '../support/browser-login.js';
import {
  startIdentityProvider,
  TEST_CLIENT_ID,
  TEST_CLIENT_SECRET,
  type TestIdentityProvider,
} from '../support/start-identity-provider.js';

/** A throwaway HTTP server that records what reaches it: the redirect URI, or a back-channel logout target. */
interface RecordingServer {
  url: string;
  hits: Array<{ method: string; url: string; body: string }>;
  close(): Promise<void>;
}

async function startRecordingServer(): Promise<RecordingServer> {
  const hits: RecordingServer['hits'] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      hits.push({ method: req.method ?? 'GET', url: req.url ?? '/', body });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('recorded');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * What openid-client rejected with: `error` for an OAuth error body (4xx), `status` of the HTTP response,
 * `code` = openid-client's ClientError code (a 5xx is OAUTH_RESPONSE_IS_NOT_CONFORM with the Response as cause).
 */
async function responseError(promise: Promise<unknown>): Promise<{ error?: string; status?: number; code?: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    const e = err as { error?: string; status?: number; code?: string; message: string; cause?: unknown };
    const status = e.status ?? (e.cause instanceof Response ? e.cause.status : undefined);
    return { error: e.error, status, code: e.code, message: e.message };
  }
  throw new Error('expected a rejection');
}

let idp: TestIdentityProvider;
let callback: RecordingServer;
let backchannel: RecordingServer;
let config: oidc.Configuration;
const redirectUri = () => `${callback.url}/auth/callback`;

beforeAll(async () => {
  callback = await startRecordingServer();
  backchannel = await startRecordingServer();
  idp = await startIdentityProvider({
    redirectUris: [`${callback.url}/auth/callback`],
    postLogoutRedirectUris: [`${callback.url}/`],
    backchannelLogoutUri: `${backchannel.url}/auth/backchannel-logout`,
  });
  config = await oidc.discovery(new URL(idp.issuer), TEST_CLIENT_ID, TEST_CLIENT_SECRET, undefined, {
    execute: [oidc.allowInsecureRequests],
  });
});

afterAll(async () => {
  await Promise.all([idp?.close(), callback?.close(), backchannel?.close()]);
});

afterEach(() => {
  idp.setDown(false);
  idp.setTokenPolicy({ rotateRefreshTokens: true });
});

/** Authorization code + PKCE through the login form; returns the token response. */
async function logIn(browser: Browser = createBrowser(), password = 'test') {
  const codeVerifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const authorizationUrl = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri(),
    scope: 'openid profile email',
    code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  const pending = await startLogin(authorizationUrl, { username: 'admin', password, browser });
  const { finalResponse } = await finishLogin(pending);
  await finalResponse.body?.cancel();
  const tokens = await oidc.authorizationCodeGrant(config, new URL(pending.callbackUrl), {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
  });
  return { tokens, callbackUrl: pending.callbackUrl, browser };
}

describe('dev identity provider', () => {
  it('serves Keycloak-shaped discovery under /realms/<realm>', () => {
    const metadata = config.serverMetadata();
    expect(metadata.issuer).toBe(idp.issuer);
    expect(idp.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/realms\/test$/);
    expect(metadata.token_endpoint).toBe(`${idp.issuer}/protocol/openid-connect/token`);
    expect(metadata.end_session_endpoint).toBe(`${idp.issuer}/protocol/openid-connect/logout`);
    expect(metadata.revocation_endpoint).toBe(`${idp.issuer}/protocol/openid-connect/revoke`);
    expect(metadata.backchannel_logout_session_supported).toBe(true);
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
  });

  it('logs in with code + PKCE and issues Keycloak-shaped ID and access tokens', async () => {
    const before = idp.counters.authorizationCodeGrants;
    const { tokens, callbackUrl } = await logIn();

    expect(new URL(callbackUrl).searchParams.get('code')).toBeTruthy();
    expect(callback.hits.at(-1)?.url).toBe(new URL(callbackUrl).pathname + new URL(callbackUrl).search);
    expect(idp.counters.authorizationCodeGrants).toBe(before + 1);

    const idToken = tokens.claims();
    expect(idToken).toMatchObject({
      iss: idp.issuer,
      aud: TEST_CLIENT_ID,
      preferred_username: 'admin',
      name: 'Admin User',
      given_name: 'Admin',
      family_name: 'User',
      email: 'admin@example.test',
      email_verified: true,
      realm_access: { roles: ['admin', 'user'] },
      resource_access: { bff: { roles: ['bff-admin'] } },
    });
    expect(idToken?.sid).toEqual(expect.any(String));

    expect(decodeProtectedHeader(tokens.access_token).typ).toBe('at+jwt');
    const accessToken = decodeJwt(tokens.access_token);
    expect(accessToken).toMatchObject({
      iss: idp.issuer,
      aud: 'account',
      azp: TEST_CLIENT_ID,
      sub: idToken?.sub,
      sid: idToken?.sid,
      typ: 'Bearer',
      realm_access: { roles: ['admin', 'user'] },
      preferred_username: 'admin',
    });
    expect(accessToken.exp! - accessToken.iat!).toBe(300);
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!)));
    expect(payload.sub).toBe(idToken?.sub);

    expect(tokens.expires_in).toBe(300);
    expect(tokens.refresh_token).toEqual(expect.any(String));
    expect(tokens['refresh_expires_in']).toBeGreaterThan(1790);
    expect(tokens['refresh_expires_in']).toBeLessThanOrEqual(1800);
  });

  it('answers userinfo for its JWT access tokens, like Keycloak', async () => {
    const { tokens } = await logIn();
    const sub = tokens.claims()!.sub;
    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, sub);
    expect(userinfo).toMatchObject({ sub, preferred_username: 'admin', email: 'admin@example.test', realm_access: { roles: ['admin', 'user'] } });
  });

  it('shows the form again on a wrong password and issues no code', async () => {
    const hitsBefore = callback.hits.length;
    const attempt = logIn(createBrowser(), 'wrong');
    await expect(attempt).rejects.toBeInstanceOf(LoginFailedError);
    await expect(attempt).rejects.toThrow('Invalid username or password.');
    expect(callback.hits.length).toBe(hitsBefore);
  });

  it('reuses the provider session for a second login in the same browser (no form)', async () => {
    const browser = createBrowser();
    await logIn(browser);
    const { tokens } = await logIn(browser, 'not-asked-again');
    expect(tokens.claims()?.preferred_username).toBe('admin');
  });

  it('rotates refresh tokens: one refresh grant, and the old token is then refused with invalid_grant', async () => {
    const { tokens } = await logIn();
    const before = { ...idp.counters };

    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect(refreshed['refresh_expires_in']).toBeGreaterThan(1790);
    expect(refreshed.claims()?.sid).toBe(tokens.claims()?.sid);
    expect(idp.counters.refreshGrants).toBe(before.refreshGrants + 1);

    const reuse = await responseError(oidc.refreshTokenGrant(config, tokens.refresh_token!));
    expect(reuse.error).toBe('invalid_grant');
    expect(idp.counters.refreshGrantErrors).toBe(before.refreshGrantErrors + 1);
    // oidc-provider treats reuse as theft: the whole grant is revoked, the new token too.
    expect((await responseError(oidc.refreshTokenGrant(config, refreshed.refresh_token!))).error).toBe('invalid_grant');
  });

  it('keeps the same refresh token when rotation is off', async () => {
    idp.setTokenPolicy({ rotateRefreshTokens: false });
    const { tokens } = await logIn();
    const first = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    const second = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(first.refresh_token).toBe(tokens.refresh_token);
    expect(second.refresh_token).toBe(tokens.refresh_token);
    expect(second['refresh_expires_in']).toBeLessThanOrEqual(1800);
  });

  it('issues access tokens with the TTL set at run time', async () => {
    idp.setTokenPolicy({ accessTokenTtlSeconds: 5 });
    try {
      const { tokens } = await logIn();
      expect(tokens.expires_in).toBe(5);
      const accessToken = decodeJwt(tokens.access_token);
      expect(accessToken.exp! - accessToken.iat!).toBe(5);
    } finally {
      idp.setTokenPolicy({ accessTokenTtlSeconds: 300 });
    }
  });

  it('simulates refresh failures without consuming the refresh token', async () => {
    const { tokens } = await logIn();
    idp.failNextRefresh('invalid_grant');
    expect((await responseError(oidc.refreshTokenGrant(config, tokens.refresh_token!))).error).toBe('invalid_grant');
    idp.failNextRefresh('server_error');
    const failure = await responseError(oidc.refreshTokenGrant(config, tokens.refresh_token!));
    expect(failure).toMatchObject({ status: 500, code: 'OAUTH_RESPONSE_IS_NOT_CONFORM' });
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.access_token).toEqual(expect.any(String));
  });

  it('revokes a refresh token', async () => {
    const { tokens } = await logIn();
    const before = idp.counters.revocations;
    await oidc.tokenRevocation(config, tokens.refresh_token!, { token_type_hint: 'refresh_token' });
    expect(idp.counters.revocations).toBe(before + 1);
    expect((await responseError(oidc.refreshTokenGrant(config, tokens.refresh_token!))).error).toBe('invalid_grant');
  });

  it('answers 503 everywhere while down, and recovers', async () => {
    const { tokens } = await logIn();
    idp.setDown(true);
    const discovery = await responseError(
      oidc.discovery(new URL(idp.issuer), TEST_CLIENT_ID, TEST_CLIENT_SECRET, undefined, { execute: [oidc.allowInsecureRequests] }),
    );
    expect(discovery.status).toBe(503);
    expect((await responseError(oidc.refreshTokenGrant(config, tokens.refresh_token!))).status).toBe(503);
    expect((await fetch(`${idp.issuer}/protocol/openid-connect/certs`)).status).toBe(503);

    idp.setDown(true, 'connection-reset');
    await expect(fetch(config.serverMetadata().token_endpoint!, { method: 'POST' })).rejects.toThrow(TypeError);

    idp.setDown(false);
    expect((await oidc.refreshTokenGrant(config, tokens.refresh_token!)).access_token).toEqual(expect.any(String));
  });

  it('refuses connections while stopped, then answers on the same port with the same keys and grants', async () => {
    const { tokens } = await logIn();
    await idp.stopListening();
    await expect(fetch(`${idp.issuer}/protocol/openid-connect/certs`)).rejects.toThrow(TypeError);

    await idp.startListening();
    const jwks = (await (await fetch(`${idp.issuer}/protocol/openid-connect/certs`)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((key) => key.kid)).toEqual(idp.publicJwks.keys.map((key) => key.kid));
    expect((await oidc.refreshTokenGrant(config, tokens.refresh_token!)).access_token).toEqual(expect.any(String));
  });

  it('sends a back-channel logout token with the session sid when a user is signed out by the admin', async () => {
    const { tokens } = await logIn();
    const sid = tokens.claims()?.sid;
    backchannel.hits.length = 0;

    expect(await idp.endSessionsOf('admin')).toBeGreaterThanOrEqual(1);

    const delivered = backchannel.hits.map((hit) => new URLSearchParams(hit.body).get('logout_token')!);
    const verified = await Promise.all(
      delivered.map((token) => jwtVerify(token, createLocalJWKSet(idp.publicJwks), { issuer: idp.issuer, audience: TEST_CLIENT_ID, typ: 'logout+jwt' })),
    );
    expect(verified.map(({ payload }) => payload.sid)).toContain(sid);
    expect(verified[0]?.payload.events).toEqual({ 'http://schemas.openid.net/event/backchannel-logout': {} });
    expect((await responseError(oidc.refreshTokenGrant(config, tokens.refresh_token!))).error).toBe('invalid_grant');
    await expect(oidc.fetchUserInfo(config, tokens.access_token, oidc.skipSubjectCheck)).rejects.toThrow();
  });

  it('logs out through the end-session endpoint (RP-initiated) with a back-channel logout', async () => {
    const { tokens, browser } = await logIn();
    backchannel.hits.length = 0;
    const logoutUrl = oidc.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: `${callback.url}/`,
    });
    const { redirectedTo } = await logoutThroughProvider(logoutUrl, { browser });
    expect(redirectedTo).toBe(`${callback.url}/`);
    const logoutToken = decodeJwt(new URLSearchParams(backchannel.hits[0]?.body).get('logout_token')!);
    expect(logoutToken.sid).toBe(tokens.claims()?.sid);
    expect((await responseError(oidc.refreshTokenGrant(config, tokens.refresh_token!))).error).toBe('invalid_grant');
  });

  it('signs logout tokens with its key for tests, and forged ones with another', async () => {
    const keys = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!));
    const valid = await idp.signLogoutToken({ sid: 'some-sid', sub: 'some-sub' });
    const { payload, protectedHeader } = await jwtVerify(valid, keys, { issuer: idp.issuer, audience: TEST_CLIENT_ID });
    expect(protectedHeader.typ).toBe('logout+jwt');
    expect(payload).toMatchObject({ sid: 'some-sid', events: { 'http://schemas.openid.net/event/backchannel-logout': {} } });

    const withoutEvents = decodeJwt(await idp.signLogoutToken({ sid: 's', events: undefined }));
    expect(withoutEvents.events).toBeUndefined();

    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const forged = await idp.signLogoutToken({ sid: 's' }, { privateJwk: { ...(await exportJWK(privateKey)), alg: 'RS256', kid: idp.jwks.keys[0]!.kid } });
    await expect(jwtVerify(forged, keys)).rejects.toThrow();
  });

  it('keeps oidc-provider quiet: no unexpected server errors', () => {
    expect(idp.serverErrors).toEqual([]);
  });
});

describe('loginThroughProvider', () => {
  it('follows the whole login and the callback, returning the callback response', async () => {
    // Stand-in for the gateway: /auth/login redirects to the provider like the real one will.
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const gateway = http.createServer(async (req, res) => {
      if (req.url?.startsWith('/auth/login')) {
        const target = oidc.buildAuthorizationUrl(config, {
          redirect_uri: redirectUri(),
          scope: 'openid',
          code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
          code_challenge_method: 'S256',
          state: 'fixed-state',
        });
        res.writeHead(302, { location: target.href, 'set-cookie': 'bff_session_tx_0=1; Path=/auth/callback; HttpOnly' }).end();
      } else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
    const gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
    try {
      const { jar, finalResponse, callbackUrl } = await loginThroughProvider(`${gatewayUrl}/auth/login`, { username: 'admin', password: 'test' });
      expect(finalResponse.status).toBe(200);
      expect(await finalResponse.text()).toBe('recorded');
      expect(new URL(callbackUrl).searchParams.get('state')).toBe('fixed-state');
      expect(jar.get(`${gatewayUrl}/auth/callback`, 'bff_session_tx_0')?.httpOnly).toBe(true);
      expect(jar.get(`${gatewayUrl}/`, 'bff_session_tx_0')).toBeUndefined();
    } finally {
      await new Promise<void>((resolve) => {
        gateway.close(() => resolve());
        gateway.closeAllConnections();
      });
    }
  });
});

describe('echo API', () => {
  let echo: EchoApi;
  beforeAll(async () => {
    echo = await createEchoApi();
  });
  afterAll(() => echo.close());

  it('echoes method, raw path, query and headers', async () => {
    const response = await fetch(`${echo.url}/a%2Fb/c?x=1&x=2&y=z`, {
      method: 'POST',
      headers: { authorization: 'Bearer abc', 'content-type': 'text/plain' },
      body: 'hello',
    });
    const body = (await response.json()) as { headers: Record<string, string> };
    expect(body).toMatchObject({ method: 'POST', path: '/a%2Fb/c', query: { x: ['1', '2'], y: 'z' }, body_bytes: 5 });
    expect(body.headers.authorization).toBe('Bearer abc');
    expect(echo.lastRequest()).toMatchObject({ path: '/a%2Fb/c', body_bytes: 5, finished: true, aborted: false });
  });

  it('streams /bytes and counts /upload without buffering', async () => {
    const bytes = await fetch(`${echo.url}/bytes?n=1000000`);
    expect(bytes.headers.get('content-type')).toBe('application/octet-stream');
    expect((await bytes.arrayBuffer()).byteLength).toBe(1_000_000);

    const upload = await fetch(`${echo.url}/upload`, { method: 'PUT', body: new Uint8Array(3_000_000) });
    expect(((await upload.json()) as { body_bytes: number }).body_bytes).toBe(3_000_000);
  });

  it('answers /status/NNN, /slow and /set-cookie', async () => {
    expect((await fetch(`${echo.url}/status/418`)).status).toBe(418);
    expect((await fetch(`${echo.url}/status/204`)).status).toBe(204);
    const started = Date.now();
    expect((await fetch(`${echo.url}/slow?ms=150`)).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    const cookies = (await fetch(`${echo.url}/set-cookie?bff_session=evil&other=1`)).headers.getSetCookie();
    expect(cookies).toEqual(['bff_session=evil; Path=/', 'other=1; Path=/']);
  });

  it('records a client that gives up on /slow as aborted', async () => {
    await expect(fetch(`${echo.url}/slow?ms=5000`, { signal: AbortSignal.timeout(100) })).rejects.toThrow();
    await expect.poll(() => echo.lastRequest()?.aborted).toBe(true);
  });
});
