import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { finishLogin, loginThroughProvider, startLogin } from '../support/browser-login.js';
import { waitUntil } from '../support/wait-for.js';
import { json } from '../support/http.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

let idp: TestIdentityProvider;
let api: EchoApi;
let gw: TestGateway;
let limited: TestGateway;
let behindLb: TestGateway;
// An upstream that sends a header the gateway also sets on its own answers.
let framing: http.Server;

beforeAll(async () => {
  [idp, api] = await Promise.all([startIdentityProvider({ accessTokenTtlSeconds: 3600 }), createEchoApi()]);
  framing = http.createServer((_req, res) => res.writeHead(200, { 'x-frame-options': 'SAMEORIGIN', 'content-type': 'text/plain' }).end('framed'));
  await new Promise<void>((resolve) => framing.listen(0, '127.0.0.1', resolve));
  const framingUrl = `http://127.0.0.1:${(framing.address() as AddressInfo).port}`;
  gw = await startTestGateway({ idp, env: { PROXY_ROUTES: `/api=${api.url},/framed=${framingUrl}` } });
  limited = await startTestGateway({ idp, env: { LOGIN_RATE_LIMIT_PER_MINUTE: '3' } });
  behindLb = await startTestGateway({ idp, env: { TRUST_PROXY: 'true', LOGIN_RATE_LIMIT_PER_MINUTE: '3' } });
});
afterAll(async () => {
  await Promise.all([gw?.close(), limited?.close(), behindLb?.close()]);
  await Promise.all([idp?.close(), api?.close(), new Promise((resolve) => framing?.close(resolve))]);
});

describe('while the identity provider is down', () => {
  it('keeps existing sessions working until a refresh is needed, still redirects a login, and answers its callback with a clear 503 page', async () => {
    const { browser } = await loginThroughProvider(`${gw.url}/auth/login`, { username: 'admin', password: 'test' });
    const pending = await startLogin(`${gw.url}/auth/login`, { username: 'admin', password: 'test' });
    idp.setDown(true);
    try {
      expect((await browser.fetch(`${gw.url}/auth/me`)).status).toBe(200);
      const proxied = await browser.fetch(`${gw.url}/api/orders`, { headers: { 'x-csrf': '1' } });
      expect(proxied.status).toBe(200);
      expect((await json(proxied)).headers.authorization).toMatch(/^Bearer /);
      // Discovery was loaded at startup, so building the redirect needs no call to the provider.
      const login = await fetch(`${gw.url}/auth/login`, { redirect: 'manual', headers: { accept: 'text/html' } });
      expect(login.status).toBe(302);
      expect(login.headers.get('location')).toMatch(new RegExp(`^${idp.url}/.*\\?.*response_type=code`));
      // The code exchange is where the provider is needed: the user gets a page, not a stack trace.
      const { finalResponse } = await finishLogin(pending);
      expect(finalResponse.status).toBe(503);
      expect(finalResponse.headers.get('content-type')).toMatch(/text\/html/);
      expect(finalResponse.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(finalResponse.headers.getSetCookie().some((c) => c.startsWith('bff_session=') && !/Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(c))).toBe(false);
    } finally {
      idp.setDown(false);
    }
  });
});

describe('login rate limiting', () => {
  it('answers 429 past the per-minute limit for one client address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await fetch(`${limited.url}/auth/login`, { redirect: 'manual' })).status);
    expect(statuses).toEqual([302, 302, 302, 429, 429]);
    const refused = await fetch(`${limited.url}/auth/login`, { redirect: 'manual', headers: { accept: 'application/json' } });
    expect(refused.headers.get('retry-after')).toBe('60');
    expect((await json(refused)).error).toBe('too_many_requests');
  });

  it('cannot be dodged by spoofing X-Forwarded-For: only the address the trusted proxy appended counts', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      // The client forges the left part; the load balancer appends the real peer (10.9.8.7) on the right.
      const forwarded = `203.0.113.${i}, 10.9.8.7`;
      statuses.push((await fetch(`${behindLb.url}/auth/login`, { redirect: 'manual', headers: { 'x-forwarded-for': forwarded } })).status);
    }
    expect(statuses).toEqual([302, 302, 302, 429, 429]);
    // Another real client behind the same balancer is not affected.
    const other = await fetch(`${behindLb.url}/auth/login`, { redirect: 'manual', headers: { 'x-forwarded-for': '10.9.8.8' } });
    expect(other.status).toBe(302);
  });
});

describe('headers on every answer', () => {
  it.each([
    ['JSON error', '/auth/me', {}],
    ['HTML error page', '/auth/callback', { accept: 'text/html' }],
    ['redirect', '/auth/login', {}],
  ])('sends security headers, a request id and no-store on a %s', async (_kind, path, headers) => {
    const response = await fetch(`${behindLb.url}${path}`, { redirect: 'manual', headers: { ...headers, 'x-forwarded-for': '10.1.1.1' } });
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('puts the request id in the access log line and passes it upstream', async () => {
    const { browser } = await loginThroughProvider(`${gw.url}/auth/login`, { username: 'admin', password: 'test' });
    const response = await browser.fetch(`${gw.url}/api/trace`, { headers: { 'x-csrf': '1', 'x-request-id': 'trace-abc-123' } });
    expect((await json(response)).headers['x-request-id']).toBe('trace-abc-123');
    // Access lines are batched (up to 100 ms, docs/operations.md).
    const logged = () => gw.logs.some((line) => line.includes('"request_id":"trace-abc-123"') && line.includes('"path":"/api/trace"'));
    await waitUntil('the access line', 5_000, logged);
    expect(logged()).toBe(true);
  });
});

describe('headers on proxied answers', () => {
  const ours = (response: Response) => ({
    nosniff: response.headers.get('x-content-type-options'),
    referrer: response.headers.get('referrer-policy'),
    opener: response.headers.get('cross-origin-opener-policy'),
    requestId: response.headers.get('x-request-id'),
  });

  it("adds the security headers and the request id to the upstream's answer, lets the upstream's own copy win, and adds no Cache-Control", async () => {
    const { browser } = await loginThroughProvider(`${gw.url}/auth/login`, { username: 'admin', password: 'test' });
    const plain = await browser.fetch(`${gw.url}/api/headers`, { headers: { 'x-csrf': '1', 'x-request-id': 'proxied-1' } });
    expect(plain.status).toBe(200);
    expect(ours(plain)).toEqual({ nosniff: 'nosniff', referrer: 'no-referrer', opener: 'same-origin', requestId: 'proxied-1' });
    expect(plain.headers.get('x-frame-options')).toBe('DENY');
    expect(plain.headers.get('cache-control')).toBeNull();
    await plain.text();

    const framed = await browser.fetch(`${gw.url}/framed/page`, { headers: { 'x-csrf': '1' } });
    expect(await framed.text()).toBe('framed');
    expect(framed.headers.get('x-frame-options')).toBe('SAMEORIGIN'); // one copy: the upstream's
    expect(ours(framed).nosniff).toBe('nosniff');
  });

  it.each([
    ['403 csrf_required', {}, 403, 'csrf_required'],
    ['401 unauthenticated, stale cookie cleared', { 'x-csrf': '1', cookie: 'bff_session=stale' }, 401, 'unauthenticated'],
  ])('sends them, no-store and the JSON error on a refused proxied request (%s)', async (_kind, headers, status, code) => {
    const response = await fetch(`${gw.url}/api/x`, { headers: { ...headers, 'x-request-id': 'refused-1' } });
    expect(response.status).toBe(status);
    expect(await json(response)).toMatchObject({ error: code });
    expect(ours(response)).toEqual({ nosniff: 'nosniff', referrer: 'no-referrer', opener: 'same-origin', requestId: 'refused-1' });
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('cache-control')).toBe('no-store');
    const cleared = response.headers.getSetCookie().some((c) => c.startsWith('bff_session=;') && /Max-Age=0/.test(c));
    expect(cleared).toBe('cookie' in headers);
  });
});
