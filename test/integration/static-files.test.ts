import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

const SECRET = 'TOP-SECRET-OUTSIDE-STATIC-DIR';
const INDEX = '<!doctype html><title>spa</title><div id="app"></div>';
const NAVIGATION = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

let workDir: string;
let idp: TestIdentityProvider;
let gateway: TestGateway;

/**
 * work/
 *   secret.txt              outside STATIC_DIR
 *   outside/secret.txt
 *   spa/                    STATIC_DIR
 *     index.html, robots.txt, inter-variable.woff2, .env, .well-known/security.txt
 *     assets/index-BQ1zv3xd.js, assets/app.3f9a2c1b.css
 *     leak.txt -> ../secret.txt, outside -> ../outside
 */
function buildSpa(): string {
  const spa = join(workDir, 'spa');
  mkdirSync(join(spa, 'assets'), { recursive: true });
  mkdirSync(join(spa, '.well-known'));
  mkdirSync(join(workDir, 'outside'));
  writeFileSync(join(workDir, 'secret.txt'), SECRET);
  writeFileSync(join(workDir, 'outside', 'secret.txt'), SECRET);
  writeFileSync(join(spa, 'index.html'), INDEX);
  writeFileSync(join(spa, 'robots.txt'), 'User-agent: *\n');
  writeFileSync(join(spa, 'inter-variable.woff2'), 'font');
  writeFileSync(join(spa, '.env'), SECRET);
  writeFileSync(join(spa, '.well-known', 'security.txt'), 'Contact: mailto:security@example.com\n');
  writeFileSync(join(spa, 'assets', 'index-BQ1zv3xd.js'), 'console.log("app")');
  writeFileSync(join(spa, 'assets', 'app.3f9a2c1b.css'), 'body{}');
  symlinkSync(join(workDir, 'secret.txt'), join(spa, 'leak.txt'));
  symlinkSync(join(workDir, 'outside'), join(spa, 'outside'));
  return spa;
}

/** The path exactly as written: fetch would resolve `..` and %2e%2e before sending. */
function rawGet(path: string, accept = '*/*', headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(gateway.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path, headers: { accept, ...headers } }, (res) => {
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
  workDir = mkdtempSync(join(tmpdir(), 'bff-static-'));
  idp = await startIdentityProvider();
  gateway = await startTestGateway({ idp, env: { STATIC_DIR: buildSpa(), PROXY_ROUTES: `/api=http://127.0.0.1:9` } });
});

afterAll(async () => {
  await gateway?.close();
  await idp?.close();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

const get = (path: string, accept = '*/*', init: RequestInit = {}) =>
  fetch(`${gateway.url}${path}`, { ...init, headers: { accept, ...(init.headers as Record<string, string>) } });

describe('SPA hosting from STATIC_DIR', () => {
  it('serves index.html at / with no-cache', async () => {
    const response = await get('/');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-cache');
    expect(await response.text()).toBe(INDEX);
  });

  it('answers a navigation to a client-side route with index.html', async () => {
    const response = await get('/orders/42/edit', NAVIGATION);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-cache');
    expect(await response.text()).toBe(INDEX);
  });

  it('answers a missing asset with 404, not with index.html', async () => {
    const response = await get('/assets/index-gone1234.js');
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: 'not_found' });
  });

  it('caches content-hashed assets for a year, other files for minutes', async () => {
    const js = await get('/assets/index-BQ1zv3xd.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await get('/assets/app.3f9a2c1b.css')).headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await get('/robots.txt')).headers.get('cache-control')).toBe('public, max-age=300');
    expect((await get('/inter-variable.woff2')).headers.get('cache-control')).toBe('public, max-age=300');
  });

  it('answers HEAD with the headers only, and a conditional GET with 304', async () => {
    const head = await get('/assets/index-BQ1zv3xd.js', '*/*', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String('console.log("app")'.length));
    expect(await head.text()).toBe('');
    const lastModified = head.headers.get('last-modified')!;
    // (fetch would add Cache-Control: no-cache to a conditional request, as the Fetch standard says.)
    const conditional = await rawGet('/assets/index-BQ1zv3xd.js', '*/*', { 'if-modified-since': lastModified });
    expect(conditional).toEqual({ status: 304, body: '' });
  });

  it('leaves /auth and the proxy prefixes alone', async () => {
    expect((await get('/auth/nothing-here', NAVIGATION)).status).toBe(404);
    const proxied = await get('/api/page', NAVIGATION);
    expect(proxied.status).toBe(403);
    expect(await proxied.json()).toMatchObject({ error: 'csrf_required' });
  });

  it('serves .well-known but no other hidden file', async () => {
    expect((await get('/.well-known/security.txt')).status).toBe(200);
    expect((await rawGet('/.env')).status).toBe(404);
    expect((await rawGet('/%2eenv')).status).toBe(404);
  });

  it.each([
    '/../secret.txt',
    '/assets/../../secret.txt',
    '/%2e%2e/secret.txt',
    '/assets/%2E%2E/%2e%2e/secret.txt',
    '/%2e%2e%2fsecret.txt',
    '/..%5csecret.txt',
    '/..%2f..%2fsecret.txt',
    '/leak.txt',
    '/outside/secret.txt',
  ])('never serves anything outside STATIC_DIR for %s', async (path) => {
    const plain = await rawGet(path);
    expect(plain.status).toBe(404);
    expect(plain.body).not.toContain(SECRET);
    // A navigation may get the SPA shell, never the file.
    const navigation = await rawGet(path, NAVIGATION);
    expect(navigation.body).not.toContain(SECRET);
  });
});
