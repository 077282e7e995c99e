import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createExampleApp } from '../../examples/koa-app/app.js';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { createBrowser, loginThroughProvider, type Browser } from '../support/browser-login.js';
import { waitUntil } from '../support/wait-for.js';
import { TEST_SECRET } from '../support/redis-store-harness.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { findFreePort, startRedis, type RedisServer } from '../support/start-redis.js';

let idp: TestIdentityProvider;
let redis: RedisServer;
let api: EchoApi;
let example: ReturnType<typeof createExampleApp>;
let server: Server;
let base: string;
let browser: Browser;

interface RunningExample {
  example: ReturnType<typeof createExampleApp>;
  server: Server;
  base: string;
}
const running: RunningExample[] = [];

/** The example app on its own port, registered at the provider, ready (discovery loaded, Redis answering). */
async function startExample(extra: Record<string, string | number> = {}): Promise<RunningExample> {
  const port = await findFreePort();
  const url = `http://127.0.0.1:${port}`;
  const client = idp.client;
  await idp.updateClient({
    redirect_uris: [...client.redirect_uris.filter((u) => !u.startsWith('http://127.0.0.1:1/')), `${url}/auth/callback`],
    post_logout_redirect_uris: [...(client.post_logout_redirect_uris ?? []), `${url}/`],
  });
  const started = createExampleApp({
    bff: {
      PUBLIC_URL: url,
      OIDC_ISSUER: idp.issuer,
      OIDC_CLIENT_ID: idp.client.client_id,
      OIDC_CLIENT_SECRET: idp.client.client_secret!,
      SESSION_SECRET: TEST_SECRET,
      REDIS_ENABLED: true,
      REDIS_URL: redis.url,
      PROXY_ROUTES: `/api=${api.url}`,
      LOG_LEVEL: 'silent',
      LOGIN_RATE_LIMIT_PER_MINUTE: 0,
      ...extra,
    },
    ordersApiUrl: api.url,
  });
  const listening = started.app.listen(port, '127.0.0.1');
  await new Promise((resolve) => listening.once('listening', resolve));
  // As examples/koa-app/server.ts wires it: the gateway's WebSockets, anything else refused.
  listening.on('upgrade', (req, socket, head) => {
    if (!started.bff.upgrade(req, socket, head)) socket.destroy();
  });
  const entry = { example: started, server: listening, base: url };
  running.push(entry);
  // As an orchestrator would wait for /readyz: discovery loaded and Redis answering.
  await waitUntil('discovery and store', 10_000, async () => started.bff.oidc.isReady() && (await started.bff.store.ping().then(() => true, () => false)));
  return entry;
}

beforeAll(async () => {
  [idp, redis, api] = await Promise.all([startIdentityProvider(), startRedis(), createEchoApi()]);
  ({ example, server, base } = await startExample());
  const login = await loginThroughProvider(`${base}/auth/login?returnTo=/profile`, { username: 'admin', password: 'test' });
  expect(login.finalResponse.status).toBe(302);
  expect(login.finalResponse.headers.get('location')).toBe('/profile');
  browser = login.browser;
});

afterAll(async () => {
  for (const { server: listening, example: started } of running) {
    await new Promise((resolve) => listening.close(resolve));
    await started.bff.close();
  }
  await Promise.all([idp?.close(), redis?.stop(), api?.close()]);
});

describe('examples/koa-app: the gateway inside a Koa app', () => {
  it('shows the host route the logged-in user from ctx.session, with roles and expiry but no token', async () => {
    const response = await browser.fetch(`${base}/profile`);
    const body = (await response.json()) as Record<string, unknown>;
    expect(response.status).toBe(200);
    expect(body['sub']).toEqual(expect.any(String));
    expect(body['roles']).toEqual(expect.arrayContaining([expect.any(String)]));
    expect(Date.parse(String(body['expires_at']))).toBeGreaterThan(Date.now());
    expect(JSON.stringify(body)).not.toMatch(/eyJ/);
  });

  it('calls an API server-side with the user access token from ctx.state.bff.accessToken()', async () => {
    const response = await browser.fetch(`${base}/orders`);
    expect(response.status).toBe(200);
    const seen = api.lastRequest()!;
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({ api_status: 200, items: [] });
    expect(seen.path).toBe('/orders');
    expect(seen.headers.authorization).toMatch(/^Bearer eyJ/);
    expect(seen.headers.cookie).toBeUndefined();
    // The browser got the API's answer, never the token itself.
    expect(text).not.toContain(String(seen.headers.authorization).slice(7));
  });

  it('keeps its own public route open and refuses a protected one without a login (401, no redirect)', async () => {
    const stranger = createBrowser();
    expect(await (await stranger.fetch(`${base}/`)).json()).toEqual({ greeting: 'Hello, stranger' });
    const refused = await stranger.fetch(`${base}/orders`);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: 'unauthenticated' });
  });

  it('mounts the gateway routes: /auth/me and the proxied /api answer as in the standalone gateway', async () => {
    const me = await browser.fetch(`${base}/auth/me`);
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ user: { sub: expect.any(String) }, session: { expires_at: expect.any(String) } });
    const proxied = await browser.fetch(`${base}/api/things`, { headers: { 'x-csrf': '1' } });
    expect(proxied.status).toBe(200);
    expect(api.lastRequest()!.headers.authorization).toMatch(/^Bearer /);
  });

  it('ends the session at logout: the host routes see no session afterwards', async () => {
    const logout = await browser.fetch(`${base}/auth/logout`, { method: 'POST', headers: { 'x-csrf': '1', accept: 'application/json' } });
    expect(logout.status).toBe(200);
    expect((await browser.fetch(`${base}/profile`)).status).toBe(401);
    expect(await redis.cli('--scan', '--pattern', 'session:*')).toBe('');
  });

  it('refreshes through the gateway refresher: concurrent accessToken() calls share one refresh grant', async () => {
    // A skew longer than the provider's token lifetime: every token is "about to expire", so each call must refresh.
    const eager = await startExample({ TOKEN_REFRESH_SKEW_SECONDS: 3600 });
    const login = await loginThroughProvider(`${eager.base}/auth/login`, { username: 'admin', password: 'test' });
    expect(login.finalResponse.status).toBe(302);
    api.clear();
    const answers = await Promise.all(Array.from({ length: 5 }, () => login.browser.fetch(`${eager.base}/orders`)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(new Set(api.requests.map((r) => r.headers.authorization)).size).toBe(1);
    const refreshes = await eager.example.bff.metrics.registry.getSingleMetric('bff_token_refreshes_total')!.get();
    expect(refreshes.values.filter((v) => v.labels['outcome'] === 'refreshed').map((v) => v.value)).toEqual([1]);
  });

  it('proxies a WebSocket under /api through bff.upgrade, and leaves other upgrades to the host', async () => {
    const login = await loginThroughProvider(`${base}/auth/login`, { username: 'admin', password: 'test' });
    const cookie = `bff_session=${login.jar.get(base, 'bff_session')!.value}`;
    const opened = await new Promise<boolean>((resolve) => {
      const socket = new WebSocket(`${base.replace('http', 'ws')}/api/socket`, { headers: { cookie, origin: base } });
      socket.once('open', () => {
        socket.close();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    expect(opened).toBe(true);
    expect(api.lastRequest()).toMatchObject({ upgrade: true, path: '/socket' });
    expect(api.lastRequest()!.headers.authorization).toMatch(/^Bearer /);
    const refused = await new Promise<boolean>((resolve) => {
      const socket = new WebSocket(`${base.replace('http', 'ws')}/not-the-gateway`, { headers: { cookie, origin: base } });
      socket.once('open', () => resolve(false));
      socket.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
  });
});
