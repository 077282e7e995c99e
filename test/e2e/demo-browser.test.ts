/**
 * Issue #6: a real browser goes through `npm run demo` as a person would. The
 * steps share one page and run in order; each leaves a screenshot in
 * test-artifacts/demo-browser/ (gitignored) for a human to look at.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_PATH, launchChromium, type LaunchedChromium } from '../support/launch-chromium.js';
import { DEMO_START_TIMEOUT_MS, startDemo, type RunningDemo } from '../support/start-demo.js';

const ARTIFACTS = join('test-artifacts', 'demo-browser');
const SESSION_COOKIE = 'bff_session';
const STEP_TIMEOUT_MS = 30_000; // the machine is shared; Chromium is slow to paint under load
// Code run in the page is passed as a string where it names DOM globals: tsconfig has no "dom" lib.

if (!CHROMIUM_PATH) {
  it.skip('skipped: no chromium binary at /usr/bin/chromium (apt-get install chromium; CI installs it in .ci/run)', () => {});
}

describe.skipIf(!CHROMIUM_PATH)('the demo in headless Chromium', () => {
  let demo: RunningDemo;
  let browser: LaunchedChromium;
  let page: Page;
  let accessToken = '';
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];

  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  const onGateway = (url: URL) => url.origin === new URL(demo.url).origin;
  const sessionCookies = async () => (await browser.context.cookies(demo.url)).filter((c) => c.name === SESSION_COOKIE);
  const meStatus = () => page.evaluate(async () => (await fetch('/auth/me', { headers: { accept: 'application/json' } })).status);

  beforeAll(async () => {
    await rm(ARTIFACTS, { recursive: true, force: true }); // no screenshot left over from an earlier run
    await mkdir(ARTIFACTS, { recursive: true });
    [demo, browser] = await Promise.all([startDemo(), launchChromium(CHROMIUM_PATH!)]);
    page = await browser.context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    // Chromium reports CSP blocks on the console; a blocked script or fetch would break the demo silently.
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(`${page.url()}: ${m.text()}`);
    });
    page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
  }, DEMO_START_TIMEOUT_MS + 30_000);

  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
  }, 30_000);

  it('opens the page signed out, with a "Log in" button', async () => {
    await page.goto(`${demo.url}/`);
    await page.locator('#signed-out').waitFor({ state: 'visible' });
    expect(await page.locator('#login').textContent()).toBe('Log in');
    expect(await page.locator('#signed-in').isVisible()).toBe(false);
    await shot('01-signed-out');
  });

  it('"Log in" leads to the provider\'s login form', async () => {
    await page.locator('#login').click();
    await page.locator('#kc-form-login').waitFor({ state: 'visible' });
    expect(new URL(page.url()).origin).toBe(demo.idpUrl);
    await shot('02-provider-login-form');
  });

  it('signing in as admin / test comes back to the page showing "Admin User" and the roles', async () => {
    await page.locator('#username').fill('admin');
    await page.locator('#password').fill('test');
    await page.locator('#kc-form-login button[type=submit]').click();
    await page.waitForURL(onGateway);
    await page.locator('#signed-in').waitFor({ state: 'visible' });
    expect(await page.locator('#user-name').textContent()).toBe('Admin User');
    expect((await page.locator('#user-roles').textContent())?.split(', ')).toContain('admin');
    await shot('03-signed-in');
  });

  it('holds the session only in an HttpOnly cookie that document.cookie cannot read', async () => {
    const [cookie] = await sessionCookies();
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
    const documentCookie = await page.evaluate<string>('document.cookie');
    expect(documentCookie).not.toContain(SESSION_COOKIE);
    expect(documentCookie).not.toContain(cookie!.value);
  });

  it('"Call API" shows the echoed request, which carries "authorization": "Bearer …"', async () => {
    await page.locator('#call-api').click();
    const result = page.locator('#api-result', { hasText: /^HTTP / });
    const text = (await result.textContent()) ?? '';
    expect(text).toMatch(/^HTTP 200\n/);
    expect(text).toMatch(/"authorization": "Bearer eyJ[\w-]+\.[\w-]+\.[\w-]+"/);
    accessToken = /"Bearer ([^"]+)"/.exec(text)![1]!;
    expect(text).not.toContain(SESSION_COOKIE); // the upstream never gets the gateway's cookie
    await shot('04-api-answer');
  });

  it('"Call payments API" (acr 2) steps up: the provider asks for the one-time code, then the call passes', async () => {
    expect(await page.locator('#user-acr').textContent()).toBe('1');
    await page.locator('#call-payments-api').click();
    // The page follows the 401 step_up_required answer's login_url; the provider asks for the second factor.
    await page.locator('#otp').waitFor({ state: 'visible' });
    expect(new URL(page.url()).origin).toBe(demo.idpUrl);
    await shot('04b-provider-asks-second-factor');
    await page.locator('#username').fill('admin');
    await page.locator('#password').fill('test');
    await page.locator('#otp').fill('123456');
    await page.locator('#kc-form-login button[type=submit]').click();
    await page.waitForURL(onGateway);
    await page.locator('#signed-in').waitFor({ state: 'visible' });
    await page.locator('#user-acr', { hasText: '2' }).waitFor();
    await page.locator('#call-payments-api').click();
    const text = (await page.locator('#api-result', { hasText: /^HTTP / }).textContent()) ?? '';
    expect(text).toMatch(/^HTTP 200\n/);
    expect(text).toContain('"path": "/payments/hello"');
    await shot('04c-payments-after-step-up');
  });

  it('keeps no token in localStorage or sessionStorage', async () => {
    expect(accessToken).not.toBe('');
    const [cookie] = await sessionCookies();
    const storage = await page.evaluate<string>('JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage } })');
    expect(storage).not.toContain(accessToken);
    expect(storage).not.toContain(cookie!.value);
    expect(storage).not.toMatch(/eyJ[\w-]+\.[\w-]+/); // no JWT of any kind (ID token, refresh token)
  });

  it('"Log out" goes through the provider\'s end-session page and comes back signed out', async () => {
    // Armed before the click: the whole round trip may be over before click() returns.
    const toProvider = page.waitForEvent('framenavigated', {
      predicate: (frame) => frame === page.mainFrame() && frame.url().startsWith(`${demo.idpUrl}/realms/demo/protocol/openid-connect/logout`),
    });
    await page.locator('#logout').click();
    await toProvider;
    // The dev provider's confirmation submits itself; press its button only if it stays on screen.
    const back = await page.waitForURL(onGateway, { timeout: 10_000 }).then(() => true, () => false);
    if (!back) {
      await shot('05a-provider-logout-confirmation');
      await page.locator('button[form="op.logoutForm"]').click();
      await page.waitForURL(onGateway);
    }
    await page.locator('#signed-out').waitFor({ state: 'visible' });
    expect(await page.locator('#login').textContent()).toBe('Log in');
    expect(await meStatus()).toBe(401);
    expect(await sessionCookies()).toEqual([]);
    await shot('05-signed-out-after-logout');
  });

  it('"Log in" again asks for the password: the provider session ended too', async () => {
    await page.locator('#login').click();
    await page.locator('#kc-form-login').waitFor({ state: 'visible' });
    expect(new URL(page.url()).origin).toBe(demo.idpUrl);
    await shot('06-provider-asks-again');
  });

  it('ran without a CSP violation or a script error on any page', () => {
    expect(cspViolations).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
