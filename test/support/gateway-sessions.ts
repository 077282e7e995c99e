/**
 * Sessions of a test gateway as a browser holds them: log a user in through
 * the provider and get the session cookie, ready to be sent to any replica
 * (the scripted browser keeps cookies per host:port, replicas differ in port).
 */
import { createSessionCookieCodec } from '../../src/session/session-cookie.js';
import { loginThroughProvider, type Browser } from './browser-login.js';
import type { TestGateway } from './start-test-gateway.js';

export interface LoggedInSession {
  /** `bff_session=<signed id>`: a Cookie header for any replica. */
  cookie: string;
  id: string;
  sub: string;
  /** The provider session id from the ID token. */
  sid?: string;
  browser: Browser;
}

/** A fresh browser logs `username` in through `gateway` (a new provider session, so a new sid). */
export async function logIn(gateway: TestGateway, username = 'admin', password = 'test'): Promise<LoggedInSession> {
  const { browser, finalResponse } = await loginThroughProvider(`${gateway.publicUrl}/auth/login`, { username, password });
  if (finalResponse.status !== 302) throw new Error(`login of ${username} answered ${finalResponse.status}`);
  const name = gateway.config.session.cookieName;
  const value = browser.jar.get(gateway.publicUrl, name)?.value;
  const id = createSessionCookieCodec(gateway.config.session.secrets).verify(value);
  const record = id === null ? null : await gateway.store.get(id);
  if (!value || !id || !record) throw new Error(`login of ${username} left no session`);
  return { cookie: `${name}=${value}`, id, sub: record.sub, ...(record.sid ? { sid: record.sid } : {}), browser };
}

/** The status of GET /auth/me with this session on `gateway`: 200 alive, 401 gone. */
async function meStatus(gateway: TestGateway, session: LoggedInSession): Promise<number> {
  const response = await fetch(`${gateway.url}/auth/me`, { headers: { cookie: session.cookie, accept: 'application/json' } });
  await response.body?.cancel();
  return response.status;
}

/** meStatus on every replica, e.g. `[200, 200]`. */
export function meStatusEverywhere(gateways: readonly TestGateway[], session: LoggedInSession): Promise<number[]> {
  return Promise.all(gateways.map((gateway) => meStatus(gateway, session)));
}
