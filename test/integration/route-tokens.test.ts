import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { scrapeMetrics } from '../support/scrape-metrics.js';
import { apiHeaders, createTestClock, loginCookie, sessionIdOf, type TestClock } from '../support/proxy-test-kit.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

let redis: RedisServer;
let idp: TestIdentityProvider;
let api: EchoApi;
let one: TestGateway;
let two: TestGateway;
let clock: TestClock;
const dir = mkdtempSync(join(tmpdir(), 'route-tokens-'));

interface Echo {
  path: string;
  headers: Record<string, string | undefined>;
}

const apiClient = (clientId: string) => ({ client_id: clientId, client_secret: `${clientId}-secret`, redirect_uris: ['http://127.0.0.1:1/cb'] });

beforeAll(async () => {
  // The APIs are clients of the realm, as Keycloak wants an exchange's audience to be.
  [redis, idp, api] = await Promise.all([
    startRedis(),
    startIdentityProvider({ extraClients: [apiClient('orders-api'), apiClient('billing-api')] }),
    createEchoApi(),
  ]);
  clock = createTestClock();
  const routesFile = join(dir, 'routes.yaml');
  writeFileSync(
    routesFile,
    `
routes:
  - prefix: /orders
    target: ${api.url}/orders
    token: { type: exchange, audience: orders-api }
  - prefix: /billing
    target: ${api.url}/billing
    token: { type: exchange, audience: billing-api }
  - prefix: /nowhere
    target: ${api.url}/nowhere
    token: { type: exchange, audience: no-such-api }
  - prefix: /reports
    target: ${api.url}/reports
    auth: none
    token: client
`,
  );
  const env = { PROXY_ROUTES: `/api=${api.url}`, ROUTES_FILE: routesFile };
  one = await startTestGateway({ idp, redisUrl: redis.url, env, clock: clock.now });
  two = await startTestGateway({ idp, redisUrl: redis.url, publicUrl: one.publicUrl, env, clock: clock.now });
});

afterAll(async () => {
  await Promise.all([one?.close(), two?.close()]);
  await Promise.all([api?.close(), idp?.close(), redis?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

const call = (gateway: TestGateway, path: string, headers: Record<string, string>) => fetch(`${gateway.url}${path}`, { headers });
const bearerOf = async (response: Response) => {
  expect(response.status).toBe(200);
  const echo = (await response.json()) as Echo;
  const authorization = echo.headers['authorization'] ?? '';
  expect(authorization).toMatch(/^Bearer /);
  return authorization.slice('Bearer '.length);
};

describe('token: exchange', () => {
  it('sends the upstream a token for the route audience, of the same user, and reuses it on every replica', async () => {
    const cookie = await loginCookie(one);
    const before = idp.counters.tokenExchangeGrants;
    const userToken = await bearerOf(await call(one, '/api/me', apiHeaders(cookie)));
    const exchanged = await bearerOf(await call(one, '/orders/1', apiHeaders(cookie)));
    const claims = decodeJwt(exchanged);
    expect(claims.aud).toBe('orders-api');
    expect(claims.azp).toBe('bff');
    expect(claims.sub).toBe(decodeJwt(userToken).sub);
    expect(exchanged).not.toBe(userToken);
    expect(await bearerOf(await call(two, '/orders/2', apiHeaders(cookie)))).toBe(exchanged);
    expect(idp.counters.tokenExchangeGrants - before).toBe(1);
  });

  it('exchanges once across both replicas when 40 requests arrive after the exchanged token expired', async () => {
    const cookie = await loginCookie(one);
    const first = await bearerOf(await call(two, '/orders/warm', apiHeaders(cookie)));
    clock.advance(10 * 60_000);
    const before = idp.counters.tokenExchangeGrants;
    const tokens = await Promise.all(
      Array.from({ length: 40 }, (_, i) => call(i % 2 === 0 ? one : two, `/orders/${i}`, apiHeaders(cookie)).then(bearerOf)),
    );
    expect(idp.counters.tokenExchangeGrants - before).toBe(1);
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).not.toBe(first);
    expect(decodeJwt(tokens[0]!).aud).toBe('orders-api');
  });

  it('keeps exchanged tokens sealed in the session hash tag and deletes them at logout', async () => {
    const cookie = await loginCookie(one);
    await bearerOf(await call(one, '/orders/x', apiHeaders(cookie)));
    const id = sessionIdOf(cookie);
    const key = `bff:values:{session:${id}}`;
    const stored = await redis.cli('HGET', key, 'exchange:orders-api');
    expect(stored).toMatch(/"v":"ey[^.]*\.\./); // a compact JWE (dir: empty encrypted key), never the token itself
    expect(stored).not.toContain('orders-api"');
    expect(Number(await redis.cli('PTTL', key))).toBeGreaterThan(0);
    const logout = await fetch(`${one.url}/auth/logout`, { method: 'POST', headers: { ...apiHeaders(cookie), accept: 'application/json' } });
    expect(logout.status).toBe(200);
    expect(await redis.cli('EXISTS', key)).toBe('0');
  });

  it('answers 403 token_exchange_refused when the provider refuses, without calling the upstream', async () => {
    const cookie = await loginCookie(one);
    api.clear();
    const response = await call(two, '/nowhere/x', apiHeaders(cookie));
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: 'token_exchange_refused' });
    expect(api.requests).toHaveLength(0);
  });

  it('answers 503 while the provider cannot be reached, backs off instead of asking again at once, and keeps the session', async () => {
    const cookie = await loginCookie(one);
    idp.setDown(true, 'connection-reset');
    try {
      const response = await call(one, '/billing/x', apiHeaders(cookie));
      expect(response.status).toBe(503);
    } finally {
      idp.setDown(false);
    }
    const exchanges = idp.counters.tokenExchangeGrants;
    // Within the back-off (1 s after the failure) the answer stays 503 without a grant at the provider.
    expect((await call(one, '/billing/x', apiHeaders(cookie))).status).toBe(503);
    expect(idp.counters.tokenExchangeGrants).toBe(exchanges);
    clock.advance(1_000);
    expect((await call(one, '/billing/x', apiHeaders(cookie))).status).toBe(200);
  });
});

describe('token: client', () => {
  it('sends the gateway own token, one grant for both replicas, with or without a user session', async () => {
    const cookie = await loginCookie(one);
    const before = idp.counters.clientCredentialsGrants;
    const tokens = await Promise.all(
      Array.from({ length: 20 }, (_, i) => call(i % 2 === 0 ? one : two, `/reports/${i}`, i % 3 === 0 ? apiHeaders(cookie) : { 'x-csrf': '1' }).then(bearerOf)),
    );
    expect(idp.counters.clientCredentialsGrants - before).toBe(1);
    expect(new Set(tokens).size).toBe(1);
    const issued = { grant: 'client_credentials', outcome: 'issued' };
    const [m1, m2] = await Promise.all([scrapeMetrics(one.adminUrl), scrapeMetrics(two.adminUrl)]);
    expect(m1.value('bff_route_token_grants_total', issued) + m2.value('bff_route_token_grants_total', issued)).toBe(1);
    const claims = decodeJwt(tokens[0]!);
    expect(claims['client_id'] ?? claims.azp ?? claims.sub).toBe('bff');
    const userSub = decodeJwt(await bearerOf(await call(one, '/api/me', apiHeaders(cookie)))).sub;
    expect(claims.sub).not.toBe(userSub);
  });

  it('renews it once across both replicas shortly before it expires', async () => {
    const first = await bearerOf(await call(one, '/reports/warm', { 'x-csrf': '1' }));
    clock.advance(10 * 60_000);
    const before = idp.counters.clientCredentialsGrants;
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => call(i % 2 === 0 ? one : two, `/reports/${i}`, { 'x-csrf': '1' }).then(bearerOf)));
    expect(idp.counters.clientCredentialsGrants - before).toBe(1);
    expect(new Set(tokens).size).toBe(1);
    expect(tokens[0]).not.toBe(first);
  });
});
