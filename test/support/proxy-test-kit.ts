/**
 * Small helpers shared by the proxy, refresh and WebSocket suites: a clock
 * tests can move, a logged-in cookie, and the headers a SPA sends to /api.
 */
import type { Clock } from '../../src/clock.js';
import { loginThroughProvider } from './browser-login.js';
import type { TestGateway } from './start-test-gateway.js';

export interface TestClock {
  readonly now: Clock;
  /** Moves time forward for every gateway sharing this clock (token expiry without waiting). */
  advance(ms: number): void;
  /**
   * Stops the gateways' time until resume(): a claim about what happens "within a second" then holds
   * however long a loaded machine takes to send the requests (advance() still moves it).
   */
  freeze(): void;
  /** Lets time run again from where it stood. */
  resume(): void;
}

export function createTestClock(): TestClock {
  let offsetMs = 0;
  let frozenAt: number | undefined;
  return {
    now: () => frozenAt ?? Date.now() + offsetMs,
    advance(ms) {
      offsetMs += ms;
      if (frozenAt !== undefined) frozenAt += ms;
    },
    freeze() {
      frozenAt ??= Date.now() + offsetMs;
    },
    resume() {
      if (frozenAt === undefined) return;
      offsetMs = frozenAt - Date.now();
      frozenAt = undefined;
    },
  };
}

/** Logs `admin`/`test` in through `gateway` and the provider; returns the Cookie header a browser would send afterwards. */
export async function loginCookie(gateway: TestGateway, user = { username: 'admin', password: 'test' }): Promise<string> {
  const { jar, finalResponse } = await loginThroughProvider(`${gateway.url}/auth/login`, user);
  if (finalResponse.status !== 302) throw new Error(`login ended with ${finalResponse.status}`);
  const cookie = jar.cookieHeaderFor(`${gateway.url}/`);
  if (!cookie?.includes(`${gateway.config.session.cookieName}=`)) throw new Error('login set no session cookie');
  return cookie;
}

/** The session id inside a Cookie header (`<id>.<mac>`), for looking at the store directly. */
export function sessionIdOf(cookieHeader: string, cookieName = 'bff_session'): string {
  const value = cookieHeader.split(';').map((c) => c.trim()).find((c) => c.startsWith(`${cookieName}=`));
  if (!value) throw new Error('no session cookie in header');
  return value.slice(cookieName.length + 1, cookieName.length + 1 + 43);
}

/** What the SPA sends with every API call: the session cookie and X-CSRF. */
export function apiHeaders(cookie: string, extra: Record<string, string> = {}): Record<string, string> {
  return { cookie, 'x-csrf': '1', accept: 'application/json', ...extra };
}
