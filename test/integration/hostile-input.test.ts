import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loginThroughProvider } from '../support/browser-login.js';
import { json } from '../support/http.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

let idp: TestIdentityProvider;
let gw: TestGateway;
let cookie: string;

beforeAll(async () => {
  idp = await startIdentityProvider();
  gw = await startTestGateway({ idp });
  const { browser } = await loginThroughProvider(`${gw.publicUrl}/auth/login`, { username: 'admin', password: 'test' });
  cookie = `bff_session=${browser.jar.get(gw.publicUrl, 'bff_session')!.value}`;
});
afterAll(async () => {
  await gw?.close();
  await idp?.close();
});

/** A raw HTTP/1.1 request, so tests can send what fetch refuses to (huge headers, raw CR/LF). */
function rawRequest(path: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, unknown> }> {
  const { hostname, port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, headers, method: 'GET' }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Bytes on a socket, for requests no HTTP client will send; resolves with the status code. */
async function socketRequest(raw: string): Promise<number> {
  return (await socketAnswer(raw)).status;
}

async function socketAnswer(raw: string): Promise<{ status: number; head: string; body: string }> {
  const { hostname, port } = new URL(gw.url);
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(raw, 'latin1'));
    let text = '';
    socket.on('data', (d) => (text += d));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
  const [head = '', body = ''] = answer.split('\r\n\r\n');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body };
}

const stillServing = async () => expect((await fetch(`${gw.url}/auth/me`, { headers: { cookie } })).status).toBe(200);

describe('hostile input never gets a 5xx and never stops the gateway', () => {
  it('answers 431 to oversized headers', async () => {
    const { status } = await rawRequest('/auth/me', { cookie: `bff_session=${'a'.repeat(20_000)}` });
    expect(status).toBe(431);
    await stillServing();
  });

  it('answers requests the HTTP parser refuses in the contract JSON error shape', async () => {
    const tooLarge = await socketAnswer(`GET /auth/me HTTP/1.1\r\nHost: x\r\nCookie: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(tooLarge.status).toBe(431);
    expect(tooLarge.head).toMatch(/content-type: application\/json/i);
    expect(JSON.parse(tooLarge.body)).toEqual({ error: 'headers_too_large', message: expect.any(String) });
    const malformed = await socketAnswer('GET /auth/me HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n');
    expect(malformed.status).toBe(400);
    expect(JSON.parse(malformed.body)).toEqual({ error: 'bad_request', message: expect.any(String) });
    await stillServing();
  });

  it('answers 4xx to an oversized URL', async () => {
    const { status } = await rawRequest(`/auth/login?returnTo=/${'a'.repeat(20_000)}`, {});
    expect([400, 414, 431]).toContain(status);
    await stillServing();
  });

  it('answers 401 to duplicated session cookies it cannot trust, and 200 when the first is ours', async () => {
    const forged = `bff_session=${'A'.repeat(43)}.${'B'.repeat(43)}`;
    expect((await fetch(`${gw.url}/auth/me`, { headers: { cookie: `${forged}; ${cookie}` } })).status).toBe(401);
    expect((await fetch(`${gw.url}/auth/me`, { headers: { cookie: `${cookie}; ${forged}` } })).status).toBe(200);
  });

  it.each([
    ['malformed', 'bff_session=%E0%A4%A; other=1'],
    ['no value', 'bff_session'],
    ['quoted', 'bff_session="abc.def"'],
  ])('answers 401, never 500, to a %s cookie', async (_name, value) => {
    const { status } = await rawRequest('/auth/me', { cookie: value });
    expect(status).toBe(401);
  });

  it('answers 4xx, never 500, to control characters in a header', async () => {
    const status = await socketRequest(`GET /auth/me HTTP/1.1\r\nHost: x\r\nCookie: bff_session=abc\u0001def\r\nConnection: close\r\n\r\n`);
    expect(status).toBeGreaterThanOrEqual(400);
    expect(status).toBeLessThan(500);
    await stillServing();
  });

  it('answers 400 to oversized or missing callback parameters', async () => {
    const long = await fetch(`${gw.url}/auth/callback?state=s&code=${'c'.repeat(5000)}`, { headers: { accept: 'application/json' } });
    expect(long.status).toBe(400);
    const none = await fetch(`${gw.url}/auth/callback`, { headers: { accept: 'application/json' } });
    expect(none.status).toBe(400);
    expect((await json(none)).error).toBe('invalid_state');
    const onlyCode = await fetch(`${gw.url}/auth/callback?code=abc`, { headers: { accept: 'application/json' } });
    expect(onlyCode.status).toBe(400);
  });

  it('never reflects CR/LF: a hostile request id is replaced, a hostile returnTo becomes /', async () => {
    const { headers } = await rawRequest('/auth/me', { 'x-request-id': 'abc%0d%0aSet-Cookie:%20x=1' });
    expect(headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(headers['set-cookie'] ?? []).not.toContainEqual(expect.stringContaining('x=1'));
    const kept = await rawRequest('/auth/me', { 'x-request-id': 'trace-123.abc' });
    expect(kept.headers['x-request-id']).toBe('trace-123.abc');

    const { browser } = await loginThroughProvider(`${gw.url}/auth/login?returnTo=%2Fok%0D%0ASet-Cookie:%20evil=1`, { username: 'admin', password: 'test' });
    expect(browser.jar.get(gw.publicUrl, 'evil')).toBeUndefined();
  });

  it('answers 404 JSON for unknown routes and methods', async () => {
    const response = await fetch(`${gw.url}/auth/me`, { method: 'DELETE', headers: { 'x-csrf': '1' } });
    expect(response.status).toBe(404);
    expect(await json(response)).toMatchObject({ error: 'not_found' });
    await stillServing();
  });
});
