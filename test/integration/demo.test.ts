import { afterAll, beforeAll, expect, it } from 'vitest';
import { loginThroughProvider } from '../support/browser-login.js';
import { json } from '../support/http.js';
import { DEMO_START_TIMEOUT_MS, startDemo, type RunningDemo } from '../support/start-demo.js';

let demo: RunningDemo;
let output = '';
let base: string;

beforeAll(async () => {
  // startDemo picks free ports, and picks again if one was taken before the demo bound it.
  demo = await startDemo();
  base = demo.url;
  output = demo.output();
}, DEMO_START_TIMEOUT_MS + 30_000);

afterAll(async () => {
  await demo?.stop();
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
