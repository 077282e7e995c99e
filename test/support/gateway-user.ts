/**
 * What a user does against a whole test gateway: log in through the provider,
 * call /auth/me, log out. Shared by the suites that prove a store topology
 * end to end (Redis single/TLS/ACL, Sentinel, Cluster, migration, outages).
 */
import { createSessionCookieCodec } from '../../src/session/session-cookie.js';
import { loginThroughProvider, type Browser } from './browser-login.js';
import { TEST_SECRET } from './redis-store-harness.js';
import type { TestGateway } from './start-test-gateway.js';

export const DEV_USER = { username: 'admin', password: 'test' } as const;

/** Logs the dev user in at `gw` (or reuses `browser`); throws unless the callback answered 302 with a session cookie. */
export async function logIn(gw: Pick<TestGateway, 'publicUrl' | 'config'>, browser?: Browser): Promise<Browser> {
  const result = await loginThroughProvider(`${gw.publicUrl}/auth/login`, { ...DEV_USER, ...(browser ? { browser } : {}) });
  if (result.finalResponse.status !== 302) {
    throw new Error(`login callback answered ${result.finalResponse.status}: ${await result.finalResponse.text()}`);
  }
  await result.finalResponse.body?.cancel();
  if (!result.jar.get(gw.publicUrl, gw.config.session.cookieName)) throw new Error('login set no session cookie');
  return result.browser;
}

export interface MeAnswer {
  status: number;
  body: { user?: { sub?: string; roles?: string[] }; error?: string; session?: { expires_at: string } };
}

/** GET /auth/me as `browser`. */
export async function me(gw: Pick<TestGateway, 'publicUrl'>, browser: Browser): Promise<MeAnswer> {
  const response = await browser.fetch(`${gw.publicUrl}/auth/me`, { headers: { accept: 'application/json' } });
  return { status: response.status, body: (await response.json()) as MeAnswer['body'] };
}

/** POST /auth/logout as `browser` (same-origin SPA call). */
export async function logOut(gw: Pick<TestGateway, 'publicUrl'>, browser: Browser): Promise<number> {
  const response = await browser.fetch(`${gw.publicUrl}/auth/logout`, {
    method: 'POST',
    headers: { accept: 'application/json', 'x-csrf': '1' },
  });
  await response.body?.cancel();
  return response.status;
}

/** The session id inside `browser`'s signed session cookie for `gw` (to look the record up in Redis). */
export function sessionIdOf(gw: Pick<TestGateway, 'publicUrl' | 'config'>, browser: Browser): string {
  const cookie = browser.jar.get(gw.publicUrl, gw.config.session.cookieName);
  const id = createSessionCookieCodec([TEST_SECRET]).verify(cookie?.value);
  if (id === null) throw new Error('no valid session cookie in the browser');
  return id;
}

/** Log lines of `gw` whose msg matches. */
export function logLines(gw: Pick<TestGateway, 'logs'>, msg: RegExp): Array<Record<string, unknown>> {
  return gw.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((l) => msg.test(String(l['msg'])));
}
