import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { apiHeaders, loginCookie } from '../support/proxy-test-kit.js';
import { waitUntil } from '../support/wait-for.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { findFreePort, startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

const PROXY_TIMEOUT_MS = 1_000;
// "Gave up by itself, did not wait for the other side": the upstream (or Redis) stays silent far longer
// than this, so an answer within it can only come from the gateway's own timeout. Generous on purpose:
// how fast is the bench's concern, not a pass/fail line for a loaded CI machine.
const NOT_HUNG_MS = 10_000;

let redis: RedisServer;
let idp: TestIdentityProvider;
let api: EchoApi;
let billing: EchoApi;
let breaking: http.Server;
let deaf: http.Server;
let gateway: TestGateway;
let trusting: TestGateway;
let cookie: string;

interface Echo {
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string | undefined>;
  body_bytes: number;
}

/** An upstream that sends its headers and half a body, then drops the connection. */
async function startBreakingUpstream(): Promise<http.Server> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 1_000_000 });
    res.write(Buffer.alloc(64 * 1024, 0x62), () => setTimeout(() => res.destroy(), 20));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** An upstream that accepts a request and then neither reads its body nor answers. */
async function startDeafUpstream(): Promise<http.Server> {
  const server = http.createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** POSTs `chunks` one after another, waiting `pauseMs` between them; resolves with the status (0 if the gateway hung up). */
function upload(path: string, chunks: Buffer[], pauseMs: number): Promise<{ status: number; body: string; ms: number }> {
  const { hostname, port } = new URL(gateway.url);
  const started = Date.now();
  const length = chunks.reduce((n, c) => n + c.length, 0);
  return new Promise((resolve) => {
    const req = http.request(
      { host: hostname, port, path, method: 'POST', headers: { ...apiHeaders(cookie), 'content-type': 'application/octet-stream', 'content-length': String(length) } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: Date.now() - started }));
      },
    );
    req.on('error', () => resolve({ status: 0, body: '', ms: Date.now() - started }));
    void (async () => {
      for (const [i, chunk] of chunks.entries()) {
        if (i > 0 && pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
        if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        if (req.destroyed) return;
      }
      req.end();
    })();
  });
}

/** A request with the path exactly as written (fetch would normalise `..` away). */
function rawGet(base: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path, method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  [redis, idp, api, billing, breaking] = await Promise.all([
    startRedis(),
    startIdentityProvider(),
    createEchoApi(),
    createEchoApi(),
    startBreakingUpstream(),
  ]);
  deaf = await startDeafUpstream();
  const closedPort = await findFreePort();
  const routes = [
    `/api=${api.url}`,
    `/billing=${billing.url}/v2/`,
    `/down=http://127.0.0.1:${closedPort}`,
    `/broken=http://127.0.0.1:${(breaking.address() as AddressInfo).port}`,
    `/deaf=http://127.0.0.1:${(deaf.address() as AddressInfo).port}`,
  ].join(',');
  const env = { PROXY_ROUTES: routes, PROXY_TIMEOUT_MS: String(PROXY_TIMEOUT_MS) };
  gateway = await startTestGateway({ idp, redisUrl: redis.url, env });
  trusting = await startTestGateway({ idp, redisUrl: redis.url, publicUrl: gateway.publicUrl, env: { ...env, TRUST_PROXY: 'true', PROXY_FORWARD_COOKIES: 'lang' } });
  cookie = await loginCookie(gateway);
});

afterAll(async () => {
  await Promise.all([gateway?.close(), trusting?.close()]);
  await Promise.all([
    api?.close(),
    billing?.close(),
    idp?.close(),
    redis?.stop(),
    new Promise<void>((resolve) => (breaking ? breaking.close(() => resolve()) : resolve())),
    new Promise<void>((resolve) => (deaf ? deaf.close(() => resolve()) : resolve())),
    Promise.resolve(deaf?.closeAllConnections()),
  ]);
  breaking?.closeAllConnections();
});

const get = (path: string, headers: Record<string, string> = apiHeaders(cookie), base = gateway.url) =>
  fetch(`${base}${path}`, { headers });
const echoOf = async (response: Response) => (await response.json()) as Echo;
const sessionStillWorks = async () => {
  expect((await fetch(`${gateway.url}/auth/me`, { headers: { cookie } })).status).toBe(200);
  expect((await get('/api/still-there')).status).toBe(200);
};

describe('routing', () => {
  it('sends each prefix to its own upstream, joined to the target base path with one slash, query kept', async () => {
    const items = await get('/api/items/7?x=1&x=2&y=%2F');
    expect(items.status).toBe(200);
    expect(await echoOf(items)).toMatchObject({ method: 'GET', path: '/items/7', query: { x: ['1', '2'], y: '/' } });
    const invoices = await get('/billing//invoices/9?page=2');
    expect(await echoOf(invoices)).toMatchObject({ path: '/v2/invoices/9', query: { page: '2' } });
    expect(await echoOf(await get('/billing'))).toMatchObject({ path: '/v2' });
    expect(await echoOf(await get('/api'))).toMatchObject({ path: '/' });
    expect(billing.requests.map((r) => r.path)).toEqual(['/v2/invoices/9', '/v2']);
  });

  it('does not route a path that merely starts with the prefix', async () => {
    const before = api.requests.length;
    const response = await get('/apiary');
    expect(response.status).toBe(404);
    expect(api.requests.length).toBe(before);
  });

  it('passes method, body, status and the upstream headers through', async () => {
    const response = await fetch(`${gateway.url}/api/status/201`, {
      method: 'PUT',
      headers: apiHeaders(cookie, { 'content-type': 'application/json', 'x-custom': 'kept' }),
      body: JSON.stringify({ hello: 'world' }),
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await echoOf(response)).toMatchObject({
      method: 'PUT',
      body_bytes: 17,
      headers: { 'content-type': 'application/json', 'x-custom': 'kept' },
    });
  });

  it.each([
    '/api/../secret',
    '/api/x/../../secret',
    '/api/%2e%2e/secret',
    '/api/.%2E/secret',
    '/api/%252e%252e/secret',
    '/api/x%2F..%2Fsecret',
    '/api/x%5C..%5Csecret',
    '/api/..;/secret',
  ])('refuses %s with 400 invalid_path before reaching the upstream', async (path) => {
    const before = api.requests.length;
    const response = await rawGet(gateway.url, path, apiHeaders(cookie));
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toMatchObject({ error: 'invalid_path' });
    expect(api.requests.length).toBe(before);
  });
});

describe('what the upstream sees', () => {
  const hostile = {
    authorization: 'Bearer forged-by-the-client',
    'x-forwarded-for': '6.6.6.6',
    'x-forwarded-host': 'evil.example',
    'x-forwarded-proto': 'gopher',
  };

  it('gets the session access token as bearer, never the client Authorization nor the gateway cookies', async () => {
    const headers = apiHeaders(`${cookie}; theme=dark; bff_session_tx_0123abcd=pending`, hostile);
    const response = await get('/api/whoami', headers);
    const { headers: seen } = await echoOf(response);
    const bearer = seen['authorization'] ?? '';
    expect(bearer).toMatch(/^Bearer ey/);
    // The access token (audience "account"), not the ID token (audience: our client id).
    expect(decodeJwt(bearer.slice('Bearer '.length))).toMatchObject({ aud: 'account', typ: 'Bearer' });
    expect(seen['cookie']).toBe('theme=dark');
    // The gateway's own id (a fresh UUID: the client sent none), the one its answer and access line carry.
    expect(seen['x-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(seen['x-request-id']).toBe(response.headers.get('x-request-id'));
  });

  it('gets only the cookies PROXY_FORWARD_COOKIES names (a provider portal cookie on the same domain stays behind)', async () => {
    const headers = apiHeaders(`${cookie}; theme=dark; lemonldap=sso-session; lang=en`);
    expect((await echoOf(await get('/api/c', headers, trusting.url))).headers['cookie']).toBe('lang=en');
    expect((await echoOf(await get('/api/c', headers))).headers['cookie']).toBe('theme=dark; lemonldap=sso-session; lang=en');
  });

  it('gets X-Forwarded-* from the socket and PUBLIC_URL without TRUST_PROXY', async () => {
    const { headers: seen } = await echoOf(await get('/api/fwd', apiHeaders(cookie, hostile)));
    const publicUrl = new URL(gateway.publicUrl);
    expect(seen).toMatchObject({ 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': publicUrl.host });
  });

  it('keeps the incoming X-Forwarded-* chain and appends the peer with TRUST_PROXY', async () => {
    const { headers: seen } = await echoOf(await get('/api/fwd', apiHeaders(cookie, hostile), trusting.url));
    expect(seen).toMatchObject({ 'x-forwarded-for': '6.6.6.6, 127.0.0.1', 'x-forwarded-host': 'evil.example' });
  });

  it('cannot set the gateway cookies: their Set-Cookie is stripped, the upstream own cookies pass', async () => {
    const response = await get('/api/set-cookie?bff_session=stolen&app=1&bff_session_tx_0123abcd=x');
    expect(response.status).toBe(200);
    expect(response.headers.getSetCookie()).toEqual(['app=1; Path=/']);
  });
});

describe('guards, in the contract order', () => {
  const foreign = 'https://evil.example';
  const own = () => new URL(gateway.publicUrl).origin;

  it.each([
    ['GET', {}, 403, 'csrf_required'],
    ['POST', { origin: foreign }, 403, 'csrf_required'],
    ['GET', { 'x-csrf': '1', origin: foreign }, 403, 'origin_mismatch'],
    ['DELETE', { 'x-csrf': '1', origin: foreign }, 403, 'origin_mismatch'],
    ['GET', { 'x-csrf': '1' }, 401, 'unauthenticated'],
    ['POST', { 'x-csrf': '1', origin: 'same' }, 401, 'unauthenticated'],
    ['GET', { 'x-csrf': '1', cookie: 'bff_session=forged.value' }, 401, 'unauthenticated'],
  ] as const)('%s with %o is %i %s, and nothing reaches the upstream', async (method, given, status, code) => {
    const headers: Record<string, string> = { accept: 'application/json', ...given };
    if (headers['origin'] === 'same') headers['origin'] = own();
    const before = api.requests.length;
    const response = await fetch(`${gateway.url}/api/guarded`, { method, headers, redirect: 'manual' });
    expect(response.status).toBe(status);
    expect(await response.json()).toMatchObject({ error: code });
    expect(api.requests.length).toBe(before);
  });

  it('checks X-CSRF and Origin before the session: a logged-in browser without X-CSRF is refused', async () => {
    const response = await get('/api/guarded', { cookie, accept: 'application/json' });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ error: 'csrf_required' });
  });
});

describe('upstream failures', () => {
  it('answers 502 upstream_unreachable when nothing listens, and the session is untouched', async () => {
    const response = await get('/down/anything');
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ error: 'upstream_unreachable' });
    expect(response.headers.getSetCookie()).toEqual([]);
    await sessionStillWorks();
  });

  it('answers 504 upstream_timeout when no headers come within PROXY_TIMEOUT_MS', async () => {
    const started = Date.now();
    const response = await get(`/api/slow?ms=${6 * NOT_HUNG_MS}`);
    expect(response.status).toBe(504);
    expect(await response.json()).toMatchObject({ error: 'upstream_timeout' });
    expect(Date.now() - started).toBeLessThan(NOT_HUNG_MS);
    await sessionStillWorks();
  });

  it('answers 504 when the upstream stops reading a large upload, instead of waiting forever', async () => {
    const chunks = Array.from({ length: 320 }, () => Buffer.alloc(64 * 1024, 0x61)); // 20 MiB
    const answer = await upload('/deaf/upload', chunks, 0);
    expect(answer.status).toBe(504);
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'upstream_timeout' });
    expect(answer.ms).toBeLessThan(NOT_HUNG_MS);
    await sessionStillWorks();
  });

  it('does not take a slow client upload (pauses longer than PROXY_TIMEOUT_MS) for a stalled upstream', async () => {
    const chunks = [Buffer.alloc(100_000, 0x61), Buffer.alloc(100_000, 0x62)];
    const answer = await upload('/api/upload', chunks, 1.5 * PROXY_TIMEOUT_MS);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ method: 'POST', body_bytes: 200_000 });
  });

  it('passes an upstream 5xx through as it is', async () => {
    const response = await get('/api/status/503');
    expect(response.status).toBe(503);
    expect(await echoOf(response)).toMatchObject({ path: '/status/503' });
    await sessionStillWorks();
  });

  it('cuts the stream when the upstream fails after its headers', async () => {
    const response = await get('/broken/file');
    expect(response.status).toBe(200);
    await expect(response.arrayBuffer()).rejects.toThrow();
    await sessionStillWorks();
  });

  it('cancels the upstream call when the client goes away', async () => {
    const abort = new AbortController();
    const call = fetch(`${gateway.url}/api/slow?ms=20000&tag=abort`, { headers: apiHeaders(cookie), signal: abort.signal });
    await waitUntil('the upstream call', 15_000, () => api.requests.some((r) => r.query['tag'] === 'abort'));
    abort.abort();
    await expect(call).rejects.toThrow();
    const upstreamCall = api.requests.find((r) => r.query['tag'] === 'abort')!;
    await waitUntil('the upstream call to be aborted', 15_000, () => upstreamCall.aborted);
    expect(upstreamCall.finished).toBe(false);
  });
});

describe('store outage', () => {
  it('answers 503 store_unavailable only where a session must be read; the cheaper guards still answer first', async () => {
    await redis.kill();
    try {
      expect((await get('/api/x', { accept: 'application/json', cookie })).status).toBe(403);
      expect((await get('/api/x', { 'x-csrf': '1', accept: 'application/json' })).status).toBe(401);
      const started = Date.now();
      const response = await get('/api/x');
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ error: 'store_unavailable' });
      expect(response.headers.getSetCookie()).toEqual([]);
      expect(Date.now() - started).toBeLessThan(NOT_HUNG_MS); // Redis stays down until the finally below
    } finally {
      await redis.restart();
    }
  });
});
