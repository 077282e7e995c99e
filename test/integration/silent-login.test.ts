/**
 * GET /auth/silent-login: the SPA's hidden iframe runs a prompt=none login and
 * gets a page that posts {source:"bff-silent-login", isLoggedIn} to the SPA's
 * own origin. Real provider, real Redis.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBrowser, loginThroughProvider, type Browser } from '../support/browser-login.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

const admin = { username: 'admin', password: 'test' };

let idp: TestIdentityProvider;
let redis: RedisServer;
let gw: TestGateway;
beforeAll(async () => {
  [idp, redis] = await Promise.all([startIdentityProvider(), startRedis()]);
  gw = await startTestGateway({ idp, redisUrl: redis.url });
});
afterAll(async () => {
  await gw?.close();
  await Promise.all([idp?.close(), redis?.stop()]);
});

interface SilentPage {
  response: Response;
  html: string;
  script: string;
  chain: string[];
}

/** What the iframe does: follows /auth/silent-login through the provider and back, and reads the page it ends on. */
async function silentLogin(browser: Browser, query = ''): Promise<SilentPage> {
  const { response, chain } = await browser.follow(`${gw.publicUrl}/auth/silent-login${query}`);
  const html = await response.text();
  const script = /<script>([^<]*)<\/script>/.exec(html)?.[1] ?? '';
  return { response, html, script, chain };
}

/** Runs the page's script the way the browser would, and returns what it posted and to which origin. */
function postedMessage(script: string): { message: unknown; targetOrigin: unknown } {
  const posted: { message: unknown; targetOrigin: unknown }[] = [];
  const parent = { postMessage: (message: unknown, targetOrigin: unknown) => posted.push({ message, targetOrigin }) };
  new Function('parent', script)(parent);
  expect(posted).toHaveLength(1);
  return posted[0]!;
}

const me = (browser: Browser) => browser.fetch(`${gw.publicUrl}/auth/me`);

describe('GET /auth/silent-login', () => {
  it('starts a prompt=none login bound to this browser, like /auth/login', async () => {
    const browser = createBrowser();
    const response = await browser.fetch(`${gw.publicUrl}/auth/silent-login?prompt=login&ui_locales=de`);
    expect(response.status).toBe(302);
    const url = new URL(response.headers.get('location')!);
    expect(url.searchParams.get('prompt')).toBe('none');
    expect(url.searchParams.get('ui_locales')).toBe('de');
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(browser.jar.list(gw.publicUrl).map((c) => c.name)).toEqual([expect.stringMatching(/^bff_session_tx_[0-9a-f]{8}$/)]);
  });

  it('logs in without a form when the provider session exists, and tells the parent isLoggedIn:true', async () => {
    const { browser } = await loginThroughProvider(`${gw.publicUrl}/auth/login`, admin);
    // The gateway's session is gone (say it expired); the provider still knows the user.
    browser.jar.delete(gw.publicUrl, 'bff_session');
    expect((await me(browser)).status).toBe(401);

    const page = await silentLogin(browser);
    expect(page.chain.some((u) => u.startsWith(idp.issuer))).toBe(true);
    expect(page.response.status).toBe(200);
    expect(page.html).not.toMatch(/<form/i);
    expect(postedMessage(page.script)).toEqual({
      message: { source: 'bff-silent-login', isLoggedIn: true },
      targetOrigin: new URL(gw.publicUrl).origin,
    });
    const answer = await me(browser);
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { user: { preferred_username: string } }).user.preferred_username).toBe('admin');
  });

  it('tells the parent isLoggedIn:false for a browser the provider does not know, and starts no session', async () => {
    const browser = createBrowser();
    const page = await silentLogin(browser, '?returnTo=/somewhere');
    expect(page.response.status).toBe(200);
    expect(postedMessage(page.script)).toEqual({
      message: { source: 'bff-silent-login', isLoggedIn: false },
      targetOrigin: new URL(gw.publicUrl).origin,
    });
    expect(browser.jar.get(gw.publicUrl, 'bff_session')).toBeUndefined();
    expect((await me(browser)).status).toBe(401);
  });

  it('answers a page only the SPA itself may frame, never cached, whose only script is the one its CSP names', async () => {
    const page = await silentLogin(createBrowser());
    const headers = page.response.headers;
    expect(headers.get('cache-control')).toBe('no-store');
    expect(headers.get('content-type')).toMatch(/^text\/html/);
    expect(headers.get('x-frame-options')).toBeNull();
    const csp = headers.get('content-security-policy')!;
    expect(csp).toContain("frame-ancestors 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    const hash = createHash('sha256').update(page.script).digest('base64');
    expect(csp).toContain(`script-src 'sha256-${hash}'`);
    expect(page.html.match(/<script/g)).toHaveLength(1);
    expect(page.script).not.toContain('"*"');
  });

  it('leaves the ordinary login unchanged: its callback still redirects to returnTo', async () => {
    const { finalResponse } = await loginThroughProvider(`${gw.publicUrl}/auth/login?returnTo=/after`, admin);
    expect(finalResponse.status).toBe(302);
    expect(finalResponse.headers.get('location')).toBe('/after');
    expect(finalResponse.headers.get('x-frame-options')).toBe('DENY');
  });
});
