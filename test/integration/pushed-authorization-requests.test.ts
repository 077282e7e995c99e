import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { startGateway } from '../../src/gateway.js';
import { createLogger } from '../../src/ops/logger.js';
import { finishLogin, startLogin } from '../support/browser-login.js';
import { meStatusEverywhere } from '../support/gateway-sessions.js';
import { json } from '../support/http.js';
import { TEST_SECRET } from '../support/redis-store-harness.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { findFreePort, startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

const ADMIN = { username: 'admin', password: 'test' };

let redis: RedisServer;
let redisClient: Redis;
/** Requires PAR of every client, advertised in discovery (Keycloak: the client's "Pushed authorization request required"). */
let idp: TestIdentityProvider;
let gwA: TestGateway;
let gwB: TestGateway;

beforeAll(async () => {
  [redis, idp] = await Promise.all([startRedis(), startIdentityProvider({ pushedAuthorizationRequests: 'required' })]);
  redisClient = new Redis(redis.url, { lazyConnect: true });
  await redisClient.connect();
  // OIDC_PAR unset: auto, and discovery says the provider requires it.
  gwA = await startTestGateway({ idp, redisUrl: redis.url });
  gwB = await startTestGateway({ idp, redisUrl: redis.url, publicUrl: gwA.publicUrl });
}, 60_000);

afterAll(async () => {
  await Promise.all([gwA?.close(), gwB?.close()]);
  redisClient?.disconnect();
  await Promise.all([idp?.close(), redis?.stop()]);
});

async function loginTransactions(): Promise<number> {
  const [, keys] = await redisClient.scan('0', 'MATCH', 'bff:*once:*', 'COUNT', 1000);
  return keys.length;
}

describe('OIDC_PAR=auto against a provider that requires pushed authorization requests', () => {
  it('pushes the request: the browser is sent to the provider with only client_id and request_uri', async () => {
    const response = await fetch(`${gwA.url}/auth/login?returnTo=/reports&login_hint=admin`, { redirect: 'manual' });
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(idp.provider.issuer + '/protocol/openid-connect/auth');
    expect([...location.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    expect(location.searchParams.get('client_id')).toBe('bff');
    expect(location.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
  });

  it('logs in through the pushed request; the callback lands on the other replica and both know the session', async () => {
    const pending = await startLogin(`${gwA.publicUrl}/auth/login?returnTo=/reports`, ADMIN);
    const callback = new URL(pending.callbackUrl);
    expect(callback.origin).toBe(gwA.publicUrl);
    const onB = `${gwB.url}${callback.pathname}${callback.search}`;
    const { finalResponse } = await finishLogin(pending, {
      callbackUrl: onB,
      headers: { cookie: pending.jar.cookieHeaderFor(pending.callbackUrl) ?? '' },
    });
    expect(finalResponse.status).toBe(302);
    expect(finalResponse.headers.get('location')).toBe('/reports');
    const cookie = finalResponse.headers.getSetCookie().find((c) => c.startsWith('bff_session='))!.split(';')[0]!;
    const statuses = await Promise.all(
      [gwA, gwB].map(async (gw) => (await fetch(`${gw.url}/auth/me`, { headers: { cookie, accept: 'application/json' } })).status),
    );
    expect(statuses).toEqual([200, 200]);
    expect(idp.serverErrors).toEqual([]);
  });

  it('OIDC_PAR=false: the provider refuses the plain authorization request, and the user sees the login fail', async () => {
    const plain = await startTestGateway({ idp, redisUrl: redis.url, env: { OIDC_PAR: 'false' } });
    try {
      const login = await fetch(`${plain.url}/auth/login`, { redirect: 'manual' });
      const location = new URL(login.headers.get('location')!);
      expect(location.searchParams.has('response_type')).toBe(true);
      expect(location.searchParams.has('request_uri')).toBe(false);
      // The provider sends the browser back with error=invalid_request (PAR required); the gateway shows it.
      const pending = await startLogin(`${plain.url}/auth/login`, ADMIN);
      const callback = new URL(pending.callbackUrl);
      expect(callback.searchParams.get('error')).toBe('invalid_request');
      expect(callback.searchParams.get('error_description')).toMatch(/pushed authorization request/i);
      const { finalResponse } = await finishLogin(pending);
      expect(finalResponse.status).toBe(400);
      expect(finalResponse.headers.get('content-type')).toMatch(/text\/html/);
      expect(await finalResponse.text()).toContain('invalid_request');
      expect(finalResponse.headers.getSetCookie().some((c) => /^bff_session=[^;]/.test(c))).toBe(false);
    } finally {
      await plain.close();
    }
  });

  it('a provider down at the push: 503 provider_unavailable, no login transaction written, no binding cookie', async () => {
    const before = await loginTransactions();
    idp.setDown(true, 'connection-reset');
    try {
      const response = await fetch(`${gwA.url}/auth/login`, { redirect: 'manual', headers: { accept: 'application/json' } });
      expect(response.status).toBe(503);
      expect(await json(response)).toMatchObject({ error: 'provider_unavailable' });
      expect(response.headers.getSetCookie()).toEqual([]);
    } finally {
      idp.setDown(false);
    }
    expect(await loginTransactions()).toBe(before);
  });

  it('the provider refusing the client at the push: 502 provider_rejected_client, logged at error, nothing written', async () => {
    const before = await loginTransactions();
    const wrong = await startTestGateway({ idp, redisUrl: redis.url, env: { OIDC_CLIENT_SECRET: 'not-the-secret' } });
    try {
      const response = await fetch(`${wrong.url}/auth/login`, { redirect: 'manual', headers: { accept: 'application/json' } });
      expect(response.status).toBe(502);
      expect(await json(response)).toMatchObject({ error: 'provider_rejected_client' });
      expect(response.headers.getSetCookie()).toEqual([]);
      const line = wrong.logs.map((l) => JSON.parse(l)).find((l) => l.provider_error === 'invalid_client');
      expect(line?.level).toBe('error');
    } finally {
      await wrong.close();
    }
    expect(await loginTransactions()).toBe(before);
  });
});

describe('OIDC_PAR against a provider that offers but does not require it', () => {
  let offering: TestIdentityProvider;
  beforeAll(async () => {
    offering = await startIdentityProvider();
  });
  afterAll(() => offering?.close());

  it('auto leaves the authorization request in the URL, as before', async () => {
    const gw = await startTestGateway({ idp: offering });
    try {
      const location = new URL((await fetch(`${gw.url}/auth/login`, { redirect: 'manual' })).headers.get('location')!);
      expect(location.searchParams.get('response_type')).toBe('code');
      expect(location.searchParams.has('request_uri')).toBe(false);
    } finally {
      await gw.close();
    }
  });

  it('true pushes it', async () => {
    const gw = await startTestGateway({ idp: offering, env: { OIDC_PAR: 'true' } });
    try {
      const location = new URL((await fetch(`${gw.url}/auth/login`, { redirect: 'manual' })).headers.get('location')!);
      expect([...location.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    } finally {
      await gw.close();
    }
  });
});

describe('OIDC_PAR=true against a provider without a PAR endpoint', () => {
  let withoutPar: TestIdentityProvider;
  beforeAll(async () => {
    withoutPar = await startIdentityProvider({ pushedAuthorizationRequests: 'off' });
  });
  afterAll(() => withoutPar?.close());

  it('never becomes ready: /readyz 503, logins 503, the reason logged at error naming OIDC_PAR', async () => {
    const port = await findFreePort();
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    const config = loadConfig({
      PORT: String(port),
      ADMIN_PORT: '0',
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      OIDC_ISSUER: withoutPar.issuer,
      OIDC_CLIENT_ID: 'bff',
      OIDC_CLIENT_SECRET: withoutPar.client.client_secret!,
      SESSION_SECRET: TEST_SECRET,
      OIDC_PAR: 'true',
    });
    const gateway = await startGateway(config, { logger: createLogger({ level: 'info', destination }) });
    try {
      const deadline = Date.now() + 10_000;
      while (!lines.some((l) => l.includes('OIDC_PAR=true')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      const line = lines.map((l) => JSON.parse(l)).find((l) => String(l.err).includes('OIDC_PAR=true'));
      expect(line).toMatchObject({ level: 'error', err: expect.stringContaining('no pushed_authorization_request_endpoint') });
      expect((await fetch(`${gateway.adminUrl}/readyz`)).status).toBe(503);
      const login = await fetch(`${gateway.url}/auth/login`, { redirect: 'manual', headers: { accept: 'application/json' } });
      expect(login.status).toBe(503);
      expect(gateway.oidc.isReady()).toBe(false);
    } finally {
      await gateway.close();
    }
  });
});
