import type { Server } from 'node:http';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBff, type BffRuntime } from '../../../src/create-bff.js';
import { loadConfig } from '../../../src/config/load-config.js';
import { createOidcClient } from '../../../src/oidc/oidc-client.js';
import { createMemoryStore } from '../../../src/session/memory-store.js';
import type { SessionStore } from '../../../src/session/session-store.js';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  ISSUER,
  PROVIDER_PATHS,
  capturedLogger,
  discoveryDocument,
  eventually,
  idToken,
  provider,
  signingKey,
  useNockedProvider,
  type SigningKey,
} from '../../support/nock-provider.js';
import { findFreePort } from '../../support/start-redis.js';

useNockedProvider();

// Generous enough that a loaded machine still loads discovery in time (a missed first attempt would retry only after a minute).
const TIMEOUT_MS = 2000;
let key: SigningKey;
let running: { server: Server; bff: BffRuntime } | undefined;

beforeAll(async () => {
  key = await signingKey('provider-key');
});
afterEach(async () => {
  if (!running) return;
  const { server, bff } = running;
  running = undefined;
  await new Promise((resolve) => server.close(resolve));
  await bff.close();
});

/** The gateway's public app from createBff (memory store) against the nocked provider, discovery loaded. */
async function startGateway(options: { discovery?: 'ok' | 'down' } = {}) {
  if (options.discovery === 'down') provider().get(PROVIDER_PATHS.discovery).reply(503, 'maintenance');
  else provider().get(PROVIDER_PATHS.discovery).reply(200, discoveryDocument());
  const log = capturedLogger();
  const port = await findFreePort();
  const base = `http://127.0.0.1:${port}`;
  const config = loadConfig({
    PUBLIC_URL: base,
    OIDC_ISSUER: ISSUER,
    OIDC_CLIENT_ID: CLIENT_ID,
    OIDC_CLIENT_SECRET: CLIENT_SECRET,
    OIDC_TIMEOUT_MS: String(TIMEOUT_MS),
    SESSION_SECRET: 's'.repeat(32),
    LOGIN_RATE_LIMIT_PER_MINUTE: '0',
  });
  const clock = Date.now;
  const store = createMemoryStore({ clock });
  const oidc = createOidcClient({ config: config.oidc, logger: log.logger, retry: { initialDelayMs: 60_000, maxDelayMs: 60_000 } });
  const bff = createBff(config, { store, oidc, clock, logger: log.logger });
  const server = bff.app.listen(port, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  running = { server, bff };
  if (options.discovery === 'down') {
    await eventually('the discovery failure', () => log.lines().some((l) => l['msg'] === 'identity provider discovery failed; retrying'));
  } else {
    await eventually('discovery', () => oidc.isReady());
  }
  return { base, store, log };
}

/**
 * /auth/login, then the provider's redirect back to /auth/callback with a code. `provide` sets up the
 * provider's answers once the login's nonce is known (an ID token must carry it).
 */
async function callback(base: string, provide: (nonce: string) => unknown, accept = 'application/json', loginQuery = 'returnTo=/app') {
  const login = await fetch(`${base}/auth/login?${loginQuery}`, { redirect: 'manual' });
  expect(login.status).toBe(302);
  const authorize = new URL(login.headers.get('location')!);
  await provide(authorize.searchParams.get('nonce')!);
  const binding = login.headers.getSetCookie()[0]!.split(';')[0]!;
  const state = authorize.searchParams.get('state')!;
  return fetch(`${base}/auth/callback?code=the-code&state=${encodeURIComponent(state)}`, { redirect: 'manual', headers: { cookie: binding, accept } });
}

/** A successful login (token endpoint and userinfo answering): the session cookie. */
async function logIn(base: string): Promise<string> {
  const answer = await callback(base, async (nonce) => {
    const body = await tokens(nonce);
    provider().post(PROVIDER_PATHS.token).reply(200, body);
    provider().get(PROVIDER_PATHS.jwks).reply(200, { keys: [key.publicJwk] });
    provider().get(PROVIDER_PATHS.userinfo).reply(200, { sub: 'user-1', email: 'ada@example.test' });
  });
  expect(answer.status).toBe(302);
  return answer.headers.getSetCookie().find((c) => c.startsWith('bff_session='))!.split(';')[0]!;
}

async function tokens(nonce: string, extra: Record<string, unknown> = {}) {
  return {
    access_token: 'at-1',
    token_type: 'Bearer',
    expires_in: 300,
    refresh_token: 'rt-1',
    id_token: await idToken(key, { sub: 'user-1', nonce, sid: 'sid-1', name: 'Ada' }),
    ...extra,
  };
}

/** No session was made: no cookie for it, and nothing in the store. */
async function expectNoSession(answer: Response, store: SessionStore) {
  expect(answer.headers.getSetCookie().filter((c) => c.startsWith('bff_session=') && !c.startsWith('bff_session=;'))).toEqual([]);
  expect((await store.status()).sessions).toBe(0);
}

const errorLines = (lines: Array<Record<string, unknown>>) => lines.filter((l) => l['level'] === 'error');

describe('/auth/callback when the token endpoint fails', () => {
  it.each([
    ['answers 503', () => provider().post(PROVIDER_PATHS.token).reply(503, { error: 'temporarily_unavailable' })],
    ['answers an HTML error page', () => provider().post(PROVIDER_PATHS.token).reply(502, '<html>Bad Gateway</html>', { 'content-type': 'text/html' })],
    ['answers too slowly', () => provider().post(PROVIDER_PATHS.token).delay(TIMEOUT_MS * 10).reply(200, { access_token: 'late', token_type: 'Bearer' })],
  ])('%s: 503 provider_unavailable, no session, logged at error level', async (_name, arrange) => {
    const { base, store, log } = await startGateway();
    const answer = await callback(base, arrange);
    expect(answer.status).toBe(503);
    expect(await answer.json()).toMatchObject({ error: 'provider_unavailable' });
    await expectNoSession(answer, store);
    expect(errorLines(log.lines())).toEqual([expect.objectContaining({ msg: 'request failed', code: 'provider_unavailable' })]);
  });

  it('answers invalid_grant (a used or expired code): 400 invalid_grant, no session, nothing at error level', async () => {
    const { base, store, log } = await startGateway();
    const answer = await callback(base, () => {
      provider().post(PROVIDER_PATHS.token).reply(400, { error: 'invalid_grant', error_description: 'Code not valid' });
    });
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ error: 'invalid_grant' });
    await expectNoSession(answer, store);
    expect(errorLines(log.lines())).toEqual([]);
  });

  it('answers 200 without access_token: 400 invalid_callback, no session', async () => {
    const { base, store } = await startGateway();
    const answer = await callback(base, async (nonce) => {
      const { access_token: _dropped, ...withoutAccessToken } = await tokens(nonce);
      provider().post(PROVIDER_PATHS.token).reply(200, withoutAccessToken);
    });
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ error: 'invalid_callback' });
    await expectNoSession(answer, store);
  });

  it('answers invalid_client (401) to a browser navigation with an HTML error page, no session', async () => {
    const { base, store } = await startGateway();
    const answer = await callback(
      base,
      () => {
        provider().post(PROVIDER_PATHS.token).reply(401, { error: 'invalid_client' });
      },
      'text/html',
    );
    expect(answer.status).toBeGreaterThanOrEqual(400);
    expect(answer.headers.get('content-type')).toMatch(/text\/html/);
    await expectNoSession(answer, store);
  });

  // CONTRACT.md's provider error mapping: a 401/403 from the token endpoint is the operator's problem
  // (502 provider_rejected_client, logged at error level), never the user's.
  it('answers invalid_client (401): 502 provider_rejected_client, logged at error level with the provider answer', async () => {
    const { base, store, log } = await startGateway();
    const answer = await callback(base, () => {
      provider().post(PROVIDER_PATHS.token).reply(401, { error: 'invalid_client', error_description: 'Invalid client credentials' });
    });
    expect(answer.status).toBe(502);
    expect(await answer.json()).toMatchObject({ error: 'provider_rejected_client' });
    await expectNoSession(answer, store);
    expect(JSON.stringify(errorLines(log.lines()))).toContain('invalid_client');
  });
});

describe('/auth/callback when the ID token is signed with a key the provider does not publish', () => {
  it('fetches the cached key set again once for the unknown kid, then refuses: 400 invalid_callback, no new session', async () => {
    const { base, store, log } = await startGateway();
    await logIn(base); // the key set is now cached
    const stranger = await signingKey('not-published');
    const answer = await callback(base, async (nonce) => {
      const body = { ...(await tokens(nonce)), id_token: await idToken(stranger, { sub: 'user-1', nonce }) };
      provider().post(PROVIDER_PATHS.token).reply(200, body);
      // Once and no more: the one refetch an unknown kid earns (a second would find no interceptor).
      provider().get(PROVIDER_PATHS.jwks).reply(200, { keys: [key.publicJwk] });
    });
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ error: 'invalid_callback' });
    expect(answer.headers.getSetCookie().filter((c) => c.startsWith('bff_session='))).toEqual([]);
    expect((await store.status()).sessions).toBe(1); // the first login's, nothing from this one
    expect(errorLines(log.lines())).toEqual([]);
  });
});

describe('other provider failures around a login', () => {
  it('a failing userinfo endpoint does not stop the login: ID-token claims only, logged as a warning', async () => {
    const { base, store, log } = await startGateway();
    const answer = await callback(base, async (nonce) => {
      const body = await tokens(nonce);
      provider().post(PROVIDER_PATHS.token).reply(200, body);
      provider().get(PROVIDER_PATHS.jwks).reply(200, { keys: [key.publicJwk] });
      provider().get(PROVIDER_PATHS.userinfo).reply(500, 'down');
    });
    expect(answer.status).toBe(302);
    expect(answer.headers.get('location')).toBe('/app');
    const cookie = answer.headers.getSetCookie().find((c) => c.startsWith('bff_session='))!.split(';')[0]!;
    const me = (await (await fetch(`${base}/auth/me`, { headers: { cookie } })).json()) as { user: Record<string, unknown> };
    expect(me.user).toMatchObject({ sub: 'user-1', name: 'Ada' });
    expect((await store.status()).sessions).toBe(1);
    expect(log.lines().filter((l) => l['level'] === 'warn').map((l) => l['msg'])).toContain('userinfo unavailable at login; using ID token claims only');
  });

  it('/auth/login while discovery fails: 503 provider_unavailable and no login transaction or binding cookie', async () => {
    const { base } = await startGateway({ discovery: 'down' });
    const answer = await fetch(`${base}/auth/login`, { redirect: 'manual', headers: { accept: 'application/json' } });
    expect(answer.status).toBe(503);
    expect(await answer.json()).toMatchObject({ error: 'provider_unavailable' });
    expect(answer.headers.getSetCookie()).toEqual([]);
  });

  it('a failing revocation never blocks logout: 200 with the logout URL, session gone, logged as a warning', async () => {
    const { base, store, log } = await startGateway();
    const cookie = await logIn(base);

    provider().post(PROVIDER_PATHS.revoke).reply(503, 'down');
    const logout = await fetch(`${base}/auth/logout`, { method: 'POST', headers: { cookie, 'x-csrf': '1', accept: 'application/json' } });
    expect(logout.status).toBe(200);
    const { logout_url } = (await logout.json()) as { logout_url: string };
    expect(new URL(logout_url).searchParams.get('id_token_hint')).toMatch(/^eyJ/);
    expect((await store.status()).sessions).toBe(0);
    expect(logout.headers.getSetCookie()).toEqual([expect.stringMatching(/^bff_session=; Path=\/; Max-Age=0/)]);
    expect(log.lines().filter((l) => l['level'] === 'warn').map((l) => l['msg'])).toContain(
      'refresh token revocation failed; session removed anyway',
    );
  });
});

describe('/auth/callback of a step-up login when the provider ignores what was asked', () => {
  const now = () => Math.floor(Date.now() / 1000);
  // `reached`: the provider endpoints the callback gets to before it answers. Each test names them, so the
  // check that every interceptor was used also shows where the refusal happens (no optional interceptors).
  const answering =
    (claims: Record<string, unknown>, reached: ReadonlyArray<'jwks' | 'userinfo'>) =>
    async (nonce: string) => {
      const body = { ...(await tokens(nonce)), id_token: await idToken(key, { sub: 'user-1', nonce, ...claims }) };
      provider().post(PROVIDER_PATHS.token).reply(200, body);
      if (reached.includes('jwks')) provider().get(PROVIDER_PATHS.jwks).reply(200, { keys: [key.publicJwk] });
      if (reached.includes('userinfo')) provider().get(PROVIDER_PATHS.userinfo).reply(200, { sub: 'user-1' });
    };

  it('max_age asked, an auth_time older than that: 400 invalid_callback, no session', async () => {
    const { base, store } = await startGateway();
    const answer = await callback(base, answering({ acr: '1', auth_time: now() - 3600 }, []), 'application/json', 'max_age=60&returnTo=/app');
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ error: 'invalid_callback', message: expect.stringMatching(/timestamp/) });
    await expectNoSession(answer, store);
  });

  it('max_age asked, no auth_time at all: 400 invalid_callback, no session', async () => {
    const { base, store } = await startGateway();
    const answer = await callback(base, answering({ acr: '1' }, []), 'application/json', 'max_age=60&returnTo=/app');
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ error: 'invalid_callback' });
    await expectNoSession(answer, store);
  });

  it('acr_values asked, none of them in the ID token: 400 acr_not_satisfied, no session, a warning naming both', async () => {
    const { base, store, log } = await startGateway();
    const answer = await callback(base, answering({ acr: '1', auth_time: now() }, ['jwks']), 'application/json', 'acr_values=2%20gold&returnTo=/app');
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ error: 'acr_not_satisfied' });
    await expectNoSession(answer, store);
    expect(log.lines().find((l) => l['event'] === 'acr_not_satisfied')).toMatchObject({ requested_acr: ['2', 'gold'], acr: '1' });
  });

  it('acr_values and max_age met: the session holds acr and auth_time', async () => {
    const { base, store } = await startGateway();
    const authTime = now() - 5;
    const answer = await callback(base, answering({ acr: 'gold', auth_time: authTime }, ['jwks', 'userinfo']), 'application/json', 'acr_values=2%20gold&max_age=60&returnTo=/app');
    expect(answer.status).toBe(302);
    const cookie = answer.headers.getSetCookie().find((c) => c.startsWith('bff_session='))!.split(';')[0]!;
    const me = (await (await fetch(`${base}/auth/me`, { headers: { cookie } })).json()) as { session: { acr?: string; auth_time?: string } };
    expect(me.session).toMatchObject({ acr: 'gold', auth_time: new Date(authTime * 1000).toISOString() });
    expect((await store.status()).sessions).toBe(1);
  });
});
