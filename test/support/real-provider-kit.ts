/**
 * What the real-provider suites (LemonLDAP::NG, Glewlwyd) share: a clock the
 * replicas read that a test can set ahead (to make an access token due for a
 * refresh without waiting, then put back: a logout token's `iat` is checked
 * against it), the tokens a session holds in Redis, and an API call.
 */
import type { Clock } from '../../src/clock.js';
import type { SessionTokens } from '../../src/session/session-store.js';
import type { Browser } from './browser-login.js';
import { redisConfig, redisStoreHarness } from './redis-store-harness.js';
import type { TestGateway } from './start-test-gateway.js';

export interface SettableClock {
  readonly now: Clock;
  /** Every replica sharing this clock now reads `ms` ahead of real time. */
  setAhead(ms: number): void;
}

export function createSettableClock(): SettableClock {
  let aheadMs = 0;
  return {
    now: () => Date.now() + aheadMs,
    setAhead(ms) {
      aheadMs = ms;
    },
  };
}

/** The tokens sealed in session `id`, opened with the test secret as the gateway does. */
export async function sessionTokens(redisUrl: string, id: string): Promise<SessionTokens> {
  const reader = await redisStoreHarness(redisConfig({ mode: 'single', url: redisUrl }));
  try {
    const record = await reader.store.get(id);
    if (!record) throw new Error(`no session ${id} in Redis`);
    return record.tokens;
  } finally {
    await reader.close();
  }
}

export interface ApiAnswer {
  status: number;
  /** The JSON body: the echo API's view of the request when proxied, or the gateway's error. */
  body: { headers?: Record<string, string>; error?: string };
  /** The Bearer token the upstream received, when it was reached. */
  bearer?: string;
}

/** A SPA's API call through `gw` (`/api` routed to the echo API). */
export async function callApi(gw: Pick<TestGateway, 'publicUrl' | 'url'>, browser: Browser): Promise<ApiAnswer> {
  const cookie = browser.jar.cookieHeaderFor(`${gw.publicUrl}/`) ?? '';
  const response = await fetch(`${gw.url}/api/things`, { headers: { cookie, 'x-csrf': '1', accept: 'application/json' } });
  const body = (await response.json()) as ApiAnswer['body'];
  const authorization = body.headers?.['authorization'];
  return { status: response.status, body, ...(authorization?.startsWith('Bearer ') ? { bearer: authorization.slice(7) } : {}) };
}

export interface MeOnAnswer {
  status: number;
  body: { user?: Record<string, unknown> & { roles?: string[] }; error?: string };
}

/** GET /auth/me on this very replica (`gw.url`), with the browser's session cookie for PUBLIC_URL. */
export async function meOn(gw: Pick<TestGateway, 'publicUrl' | 'url'>, browser: Browser): Promise<MeOnAnswer> {
  const cookie = browser.jar.cookieHeaderFor(`${gw.publicUrl}/`) ?? '';
  const response = await fetch(`${gw.url}/auth/me`, { headers: { cookie, accept: 'application/json' } });
  return { status: response.status, body: (await response.json()) as MeOnAnswer['body'] };
}

/** POST /auth/logout on this replica as the SPA does; resolves with the provider's end-session URL. */
export async function logoutUrlFrom(gw: Pick<TestGateway, 'publicUrl' | 'url'>, browser: Browser): Promise<string> {
  const cookie = browser.jar.cookieHeaderFor(`${gw.publicUrl}/`) ?? '';
  const response = await fetch(`${gw.url}/auth/logout`, { method: 'POST', headers: { cookie, 'x-csrf': '1', accept: 'application/json' } });
  if (response.status !== 200) throw new Error(`logout answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { logout_url: string }).logout_url;
}
