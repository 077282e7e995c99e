import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loginThroughProvider } from '../support/browser-login.js';
import { json } from '../support/http.js';
import { findFreePort } from '../support/start-redis.js';

let demo: ChildProcess;
let output = '';
let base: string;

beforeAll(async () => {
  const [port, admin, idp, api] = [await findFreePort(), await findFreePort(), await findFreePort(), await findFreePort()];
  base = `http://localhost:${port}`;
  demo = spawn(process.execPath, ['--import', 'tsx', 'src/demo.ts'], {
    env: { PATH: process.env['PATH'] ?? '', PORT: String(port), ADMIN_PORT: String(admin), DEMO_IDP_PORT: String(idp), DEMO_API_PORT: String(api) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  demo.stdout!.on('data', (d) => (output += d));
  demo.stderr!.on('data', (d) => (output += d));
  const deadline = Date.now() + 30_000;
  while (!output.includes('Ctrl-C')) {
    if (Date.now() > deadline || demo.exitCode !== null) throw new Error(`demo did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 40_000);

afterAll(() => {
  demo?.kill('SIGTERM');
});

it('prints where to go, the credentials and that it is for development only', () => {
  expect(output).toContain(`Open        ${base}/`);
  expect(output).toContain('admin / test');
  expect(output).toMatch(/DEVELOPMENT ONLY/);
});

it('serves the page, logs in admin/test for real, proxies the API with a bearer token and logs out', async () => {
  const page = await fetch(`${base}/`);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('Log in');

  await expect(loginThroughProvider(`${base}/auth/login`, { username: 'admin', password: 'wrong' })).rejects.toThrow(/refused/);
  const { browser } = await loginThroughProvider(`${base}/auth/login`, { username: 'admin', password: 'test' });
  const me = await json(await browser.fetch(`${base}/auth/me`));
  expect(me.user).toMatchObject({ name: 'Admin User', roles: expect.arrayContaining(['admin']) });

  const api = await browser.fetch(`${base}/api/hello?from=test`, { headers: { 'x-csrf': '1' } });
  expect(api.status).toBe(200);
  const echoed = await json(api);
  expect(echoed.path).toBe('/hello');
  expect(echoed.query).toMatchObject({ from: 'test' });
  expect(echoed.headers.authorization).toMatch(/^Bearer eyJ/);
  expect(echoed.headers.cookie).toBeUndefined();

  const admin = await browser.fetch(`${base}/admin-api/hello`, { headers: { 'x-csrf': '1' } });
  expect(admin.status).toBe(200);
  expect((await json(admin)).headers).toMatchObject({ authorization: expect.stringMatching(/^Bearer eyJ/), 'x-user-email': 'admin@example.test' });

  const logout = await browser.fetch(`${base}/auth/logout`, { method: 'POST', headers: { 'x-csrf': '1', accept: 'application/json' } });
  expect((await json(logout)).logout_url).toContain('/realms/demo/');
  expect((await browser.fetch(`${base}/auth/me`)).status).toBe(401);
});

it('has a public route that needs no login and sends no token, and a role-restricted one that needs a session', async () => {
  const page = await (await fetch(`${base}/`)).text();
  expect(page).toContain('Call public API');
  expect(page).toContain('Call admin API');
  const open = await fetch(`${base}/public-api/hello`, { headers: { 'x-csrf': '1' } });
  expect(open.status).toBe(200);
  const echoed = await json(open);
  expect(echoed.path).toBe('/public/hello');
  expect(echoed.headers.authorization).toBeUndefined();
  expect((await fetch(`${base}/admin-api/hello`, { headers: { 'x-csrf': '1' } })).status).toBe(401);
});
