/**
 * Documented variables that change what a running gateway does, each set to
 * a non-default value on a real gateway (real provider, real Redis) and
 * checked where a user or operator would notice it: OIDC_DISCOVERY_URL,
 * OIDC_SCOPES, OIDC_POST_LOGOUT_REDIRECT_URI, SESSION_COOKIE_NAME (login,
 * proxy, WebSocket, logout), REDIS_KEY_PREFIX, REDIS_SESSION_CACHE=false
 * (through a hung Redis), NODE_ENV=production with OIDC_ALLOW_INSECURE_HTTP.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { ConfigError } from '../../src/config/load-config.js';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { loginThroughProvider, logoutThroughProvider } from '../support/browser-login.js';
import { DEV_USER, logLines, me, sessionIdOf } from '../support/gateway-user.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';
import { waitFor } from '../support/wait-for.js';

const COOKIE = 'app_sid';
const PREFIX = 'tenant-a:sess:';
const SCOPES = 'openid profile';
const COMMAND_TIMEOUT_MS = 500;
const POST_LOGOUT_URI = 'http://127.0.0.1:9/signed-out';

let idp: TestIdentityProvider;
let redis: RedisServer;
let api: EchoApi;
let wss: WebSocketServer;
let discovery: http.Server;
let discoveryHits = 0;
let gw: TestGateway;

beforeAll(async () => {
  [idp, redis, api] = await Promise.all([startIdentityProvider(), startRedis(), createEchoApi()]);
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  wss.on('connection', (socket) => socket.on('message', (data) => socket.send(data)));
  // Discovery served from another address than the issuer's, as an in-cluster URL would be.
  discovery = http.createServer((req, res) => {
    discoveryHits += 1;
    void fetch(idp.discoveryUrl).then(async (answer) => {
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(await answer.text());
    });
  });
  discovery.listen(0, '127.0.0.1');
  await once(discovery, 'listening');

  // Registered at the provider like any other; the test browser stops there (nothing listens on port 9).
  await idp.updateClient({ post_logout_redirect_uris: [...(idp.client.post_logout_redirect_uris ?? []), POST_LOGOUT_URI] });
  gw = await startTestGateway({
    idp,
    redisUrl: redis.url,
    env: {
      OIDC_POST_LOGOUT_REDIRECT_URI: POST_LOGOUT_URI,
      NODE_ENV: 'production',
      OIDC_ALLOW_INSECURE_HTTP: 'true',
      OIDC_DISCOVERY_URL: `http://127.0.0.1:${(discovery.address() as AddressInfo).port}/discovery`,
      OIDC_SCOPES: SCOPES,
      SESSION_COOKIE_NAME: COOKIE,
      REDIS_KEY_PREFIX: PREFIX,
      REDIS_SESSION_CACHE: 'false',
      REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
      PROXY_ROUTES: `/api=${api.url},/ws=http://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    },
  });
}, 60_000);

afterAll(async () => {
  await gw?.close();
  await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()));
  await new Promise<void>((resolve) => (discovery ? discovery.close(() => resolve()) : resolve()));
  await Promise.all([redis?.stop(), api?.close(), idp?.close()]);
});

describe('a gateway configured away from every default', () => {
  it('runs under NODE_ENV=production with an http provider only because OIDC_ALLOW_INSECURE_HTTP=true', async () => {
    expect((await fetch(`${gw.adminUrl}/readyz`)).status).toBe(200);
    expect(gw.config.warnings.join('\n')).not.toMatch(/plain http/);
    await expect(startTestGateway({ idp, env: { NODE_ENV: 'production' } })).rejects.toThrow(ConfigError);
    await expect(startTestGateway({ idp, env: { NODE_ENV: 'production' } })).rejects.toThrow(/OIDC_ALLOW_INSECURE_HTTP/);
  });

  it('loads discovery from OIDC_DISCOVERY_URL, not from the issuer', () => {
    expect(discoveryHits).toBeGreaterThan(0);
    expect(gw.config.oidc.discoveryUrl.pathname).toBe('/discovery');
  });

  it('asks for OIDC_SCOPES at login', async () => {
    const login = await fetch(`${gw.url}/auth/login`, { redirect: 'manual' });
    expect(login.status).toBe(302);
    expect(new URL(login.headers.get('location')!).searchParams.get('scope')).toBe(SCOPES);
  });

  it('uses SESSION_COOKIE_NAME for login, proxy, WebSocket and logout, and sends the browser to OIDC_POST_LOGOUT_REDIRECT_URI', async () => {
    const { browser, finalResponse } = await loginThroughProvider(`${gw.url}/auth/login`, DEV_USER);
    expect(finalResponse.status).toBe(302);
    const names = browser.jar.list(gw.publicUrl).map((c) => c.name);
    expect(names).toContain(COOKIE);
    expect(names).not.toContain('bff_session');
    const cookie = `${COOKIE}=${browser.jar.get(gw.publicUrl, COOKIE)!.value}`;

    const proxied = await fetch(`${gw.url}/api/orders`, { headers: { cookie, 'x-csrf': '1' } });
    expect(proxied.status).toBe(200);
    expect(((await proxied.json()) as { headers: Record<string, string> }).headers['authorization']).toMatch(/^Bearer /);
    // The default name means nothing to this gateway.
    const wrongName = await fetch(`${gw.url}/api/orders`, { headers: { cookie: cookie.replace(COOKIE, 'bff_session'), 'x-csrf': '1' } });
    expect(wrongName.status).toBe(401);

    const ws = new WebSocket(`${gw.url.replace(/^http/, 'ws')}/ws/echo`, { origin: new URL(gw.publicUrl).origin, headers: { cookie } });
    await once(ws, 'open');
    const reply = once(ws, 'message');
    ws.send('ping');
    expect(String(((await reply) as [Buffer])[0])).toBe('ping');
    ws.close();

    const logout = await browser.fetch(`${gw.url}/auth/logout`, { method: 'POST', headers: { accept: 'application/json', 'x-csrf': '1' } });
    expect(logout.status).toBe(200);
    expect(logout.headers.getSetCookie().some((c) => c.startsWith(`${COOKIE}=;`) && /Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(c))).toBe(true);
    const { logout_url: logoutUrl } = (await logout.json()) as { logout_url: string };
    expect(new URL(logoutUrl).searchParams.get('post_logout_redirect_uri')).toBe(POST_LOGOUT_URI);
    const { redirectedTo } = await logoutThroughProvider(logoutUrl, { browser });
    expect(redirectedTo?.split('?')[0]).toBe(POST_LOGOUT_URI);
    expect((await fetch(`${gw.url}/api/orders`, { headers: { cookie, 'x-csrf': '1' } })).status).toBe(401);
  });

  it('keeps every session record at REDIS_KEY_PREFIX<id> and nothing else there', async () => {
    const browsers = [await loginThroughProvider(`${gw.url}/auth/login`, DEV_USER), await loginThroughProvider(`${gw.url}/auth/login`, DEV_USER)];
    const ids = browsers.map(({ browser }) => sessionIdOf(gw, browser));
    const underPrefix = (await redis.cli('--scan', '--pattern', `${PREFIX}*`)).split('\n').filter(Boolean).sort();
    expect(underPrefix).toEqual(ids.map((id) => `${PREFIX}${id}`).sort());
    for (const key of underPrefix) expect(JSON.parse(await redis.cli('GET', key))).toMatchObject({ v: 1, tokens: expect.any(String) });
    expect(await redis.cli('--scan', '--pattern', 'session:*')).toBe('');
    // Everything else the gateway keeps names the prefix too, so two deployments can share one Redis.
    const all = (await redis.cli('--scan')).split('\n').filter(Boolean);
    for (const key of all) expect(key.startsWith(PREFIX) || (key.startsWith('bff:') && key.includes(PREFIX)), key).toBe(true);
  });

  it('with REDIS_SESSION_CACHE=false reads Redis on every request and answers 503 while Redis hangs', async () => {
    const { browser } = await loginThroughProvider(`${gw.url}/auth/login`, DEV_USER);
    expect(logLines(gw, /^session cache on/)).toEqual([]);
    const gets = async () => Number(/cmdstat_get:calls=(\d+)/.exec(await redis.cli('INFO', 'commandstats'))?.[1] ?? 0);
    const before = await gets();
    for (let i = 0; i < 3; i++) expect((await me(gw, browser)).status).toBe(200);
    expect((await gets()) - before).toBeGreaterThanOrEqual(3);

    // Paused far longer than the command timeout: a 503 before the pause ends is the gateway not waiting for Redis.
    const pauseMs = 20 * COMMAND_TIMEOUT_MS;
    await redis.ok('CLIENT', 'PAUSE', String(pauseMs), 'ALL');
    const paused = performance.now();
    const hung = await me(gw, browser);
    expect(hung).toMatchObject({ status: 503, body: { error: 'store_unavailable' } });
    expect(performance.now() - paused).toBeLessThan(pauseMs);
    await waitFor(async () => (await me(gw, browser)).status === 200, { what: 'the session served again after the pause', timeoutMs: pauseMs + 15_000 });
  }, 60_000);
});
