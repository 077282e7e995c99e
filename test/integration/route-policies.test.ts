import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { apiHeaders, loginCookie } from '../support/proxy-test-kit.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

let redis: RedisServer;
let idp: TestIdentityProvider;
let api: EchoApi;
let one: TestGateway;
let two: TestGateway;
let cookie: string;
const dir = mkdtempSync(join(tmpdir(), 'route-policies-'));

interface Echo {
  path: string;
  headers: Record<string, string | undefined>;
}

beforeAll(async () => {
  [redis, idp, api] = await Promise.all([startRedis(), startIdentityProvider(), createEchoApi()]);
  const routesFile = join(dir, 'routes.yaml');
  // The dev user admin holds realm roles admin and user, and client role bff-admin of client bff.
  writeFileSync(
    routesFile,
    `
routes:
  - prefix: /public
    target: ${api.url}/pub
    auth: none
    token: none
  - prefix: /maybe
    target: ${api.url}/maybe
    auth: optional
    userHeaders: [X-User-Sub]
  - prefix: /admin
    target: ${api.url}/admin
    roles: { anyOf: [auditor, "bff:bff-admin"] }
    userHeaders: [X-User-Sub, X-User-Email, X-User-Roles]
  - prefix: /audit
    target: ${api.url}/audit
    roles: { allOf: [admin, auditor] }
  - prefix: /ops
    target: ${api.url}/ops
    roles: { anyOf: [auditor, "other-client:ops"] }
  - prefix: /api/open
    target: ${api.url}/open
    auth: none
    token: none
  - prefix: /kept
    target: ${api.url}/base
    stripPrefix: false
  - prefix: /quick
    target: ${api.url}
    timeoutMs: 300
  - prefix: /hooks
    target: ${api.url}
    auth: none
    csrf: false
    stripPrefix: false
    token: none
    websocket: false
`,
  );
  const env = { PROXY_ROUTES: `/api=${api.url}`, ROUTES_FILE: routesFile };
  one = await startTestGateway({ idp, redisUrl: redis.url, env });
  two = await startTestGateway({ idp, redisUrl: redis.url, publicUrl: one.publicUrl, env });
  cookie = await loginCookie(one);
});

afterAll(async () => {
  await Promise.all([one?.close(), two?.close()]);
  await Promise.all([api?.close(), idp?.close(), redis?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

const call = (gateway: TestGateway, path: string, headers: Record<string, string>) => fetch(`${gateway.url}${path}`, { headers });
const echoOf = async (response: Response) => (await response.json()) as Echo;

describe('auth: none', () => {
  it('forwards without a cookie, without a session and with no Authorization', async () => {
    const response = await call(two, '/public/info', { 'x-csrf': '1' });
    expect(response.status).toBe(200);
    const echo = await echoOf(response);
    expect(echo.path).toBe('/pub/info');
    expect(echo.headers['authorization']).toBeUndefined();
  });

  it('never passes the session cookie on, nor a token, when the browser is logged in', async () => {
    const echo = await echoOf(await call(one, '/public/info', apiHeaders(`${cookie}; theme=dark`)));
    expect(echo.headers['authorization']).toBeUndefined();
    expect(echo.headers['cookie']).toBe('theme=dark');
  });
});

describe('auth: optional', () => {
  it('forwards the user token and X-User-Sub while there is a session', async () => {
    const response = await call(two, '/maybe/x', apiHeaders(cookie));
    expect(response.status).toBe(200);
    const echo = await echoOf(response);
    expect(echo.headers['authorization']).toMatch(/^Bearer ey/);
    expect(echo.headers['x-user-sub']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('forwards without a token and without user headers when there is none', async () => {
    const response = await call(one, '/maybe/x', { 'x-csrf': '1', 'x-user-sub': 'spoofed' });
    expect(response.status).toBe(200);
    const echo = await echoOf(response);
    expect(echo.headers['authorization']).toBeUndefined();
    expect(echo.headers['x-user-sub']).toBeUndefined();
  });
});

describe('roles', () => {
  it('lets a user holding one of anyOf through, with the user headers the route asks for', async () => {
    const response = await call(two, '/admin/panel', apiHeaders(cookie));
    expect(response.status).toBe(200);
    const echo = await echoOf(response);
    expect(echo.headers['authorization']).toMatch(/^Bearer ey/);
    expect(echo.headers['x-user-email']).toBe('admin@example.test');
    expect(echo.headers['x-user-roles']?.split(',')).toEqual(expect.arrayContaining(['admin', 'user', 'bff-admin', 'bff:bff-admin']));
  });

  it('refuses a user missing one of allOf with 403 forbidden, without calling the upstream', async () => {
    api.clear();
    const response = await call(one, '/audit/log', apiHeaders(cookie));
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: 'forbidden' });
    expect(api.requests).toHaveLength(0);
  });

  it('refuses a user holding none of anyOf (realm or client role) with 403 forbidden, without calling the upstream', async () => {
    api.clear();
    const response = await call(two, '/ops/run', apiHeaders(cookie));
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: 'forbidden' });
    expect(api.requests).toHaveLength(0);
  });

  it('answers 401 (not 403) without a session', async () => {
    const response = await call(one, '/audit/log', { 'x-csrf': '1' });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: 'unauthenticated' });
  });

  it('applies to WebSocket upgrades too', async () => {
    api.clear();
    const refused = await upgrade(one, '/audit/socket', cookie);
    expect(refused).toMatchObject({ status: 403, error: 'forbidden' });
    expect(await upgrade(two, '/admin/socket', cookie)).toMatchObject({ status: 101 });
    expect(await upgrade(two, '/public/socket')).toMatchObject({ status: 101 });
    expect(api.requests.map((r) => r.path)).toEqual(['/admin/socket', '/pub/socket']);
    expect(api.requests[0]?.headers['x-user-email']).toBe('admin@example.test');
    expect(api.requests[1]?.headers['authorization']).toBeUndefined();
  });
});

describe('longest prefix', () => {
  it('serves a public route nested in a PROXY_ROUTES one by its own policy, on segment boundaries only', async () => {
    api.clear();
    const open = await call(two, '/api/open/items', { 'x-csrf': '1' });
    expect(open.status).toBe(200);
    expect((await echoOf(open)).path).toBe('/open/items');
    const loggedIn = await echoOf(await call(one, '/api/open/items', apiHeaders(cookie)));
    expect(loggedIn.headers['authorization']).toBeUndefined();
    // /api/opener is no child of /api/open: it falls to /api, which needs a session.
    expect((await call(one, '/api/opener', { 'x-csrf': '1' })).status).toBe(401);
    expect((await call(one, '/api/x', { 'x-csrf': '1' })).status).toBe(401);
    expect(api.requests.map((r) => r.path)).toEqual(['/open/items', '/open/items']);
    const protectedOne = await echoOf(await call(one, '/api/opener', apiHeaders(cookie)));
    expect(protectedOne.path).toBe('/opener');
    expect(protectedOne.headers['authorization']).toMatch(/^Bearer ey/);
  });
});

describe('user headers', () => {
  it('removes spoofed X-User-* on every route, whatever it says', async () => {
    const spoof = { 'x-user-sub': 'root', 'x-user-email': 'root@evil.test', 'x-user-roles': 'admin' };
    const plain = await echoOf(await call(one, '/api/x', apiHeaders(cookie, spoof)));
    const publicRoute = await echoOf(await call(one, '/public/x', { 'x-csrf': '1', ...spoof }));
    const admin = await echoOf(await call(two, '/admin/x', apiHeaders(cookie, spoof)));
    for (const echo of [plain, publicRoute]) {
      expect(echo.headers['x-user-sub']).toBeUndefined();
      expect(echo.headers['x-user-email']).toBeUndefined();
      expect(echo.headers['x-user-roles']).toBeUndefined();
    }
    expect(admin.headers['x-user-sub']).not.toBe('root');
    expect(admin.headers['x-user-email']).toBe('admin@example.test');
    expect(admin.headers['x-user-roles']).not.toBe('admin');
  });
});

describe('csrf, stripPrefix and websocket switches', () => {
  it('lets a csrf: false route through without X-CSRF, still refusing a foreign Origin, and keeps the prefix', async () => {
    const response = await call(one, '/hooks/github', {});
    expect(response.status).toBe(200);
    expect((await echoOf(response)).path).toBe('/hooks/github');
    const foreign = await fetch(`${one.url}/hooks/github`, { method: 'POST', headers: { origin: 'http://evil.test' } });
    expect(foreign.status).toBe(403);
  });

  it('keeps X-CSRF required on routes that do not switch it off', async () => {
    const response = await call(one, '/public/x', {});
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: 'csrf_required' });
  });

  it('serves a route that only changes stripPrefix and timeoutMs like a plain one: session, user token, its own timeout', async () => {
    expect((await call(one, '/kept/x', { 'x-csrf': '1' })).status).toBe(401);
    const response = await call(two, '/kept/x?y=1', apiHeaders(cookie));
    expect(response.status).toBe(200);
    const echo = await echoOf(response);
    expect(echo.path).toBe('/base/kept/x');
    expect(echo.headers['authorization']).toMatch(/^Bearer ey/);
    const slow = await call(one, '/quick/slow?ms=2000', apiHeaders(cookie));
    expect(slow.status).toBe(504);
    expect(await slow.json()).toMatchObject({ error: 'upstream_timeout' });
    expect((await call(one, '/api/slow?ms=600', apiHeaders(cookie))).status).toBe(200);
    expect((await call(two, '/quick/slow?ms=10', apiHeaders(cookie))).status).toBe(200);
  });

  it('refuses WebSocket upgrades on a websocket: false route', async () => {
    expect(await upgrade(one, '/hooks/socket')).toMatchObject({ status: 404 });
  });
});

/** A WebSocket handshake from the gateway's own origin: 101, or the refusal's status and error code. */
function upgrade(gateway: TestGateway, path: string, withCookie?: string): Promise<{ status: number; error?: string }> {
  const ws = new WebSocket(`${gateway.url.replace(/^http/, 'ws')}${path}`, [], {
    origin: new URL(gateway.publicUrl).origin,
    headers: withCookie ? { cookie: withCookie } : {},
  });
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
        let error: string | undefined;
        try {
          error = (JSON.parse(text) as { error?: string }).error;
        } catch {
          error = undefined;
        }
        resolve({ status: res.statusCode ?? 0, ...(error ? { error } : {}) });
      });
    });
    ws.once('error', reject);
  });
}
