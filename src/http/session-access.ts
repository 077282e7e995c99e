import type { Context } from 'koa';
import type { Clock } from '../clock.js';
import type { Config } from '../config/config.js';
import { UnauthenticatedError } from '../errors.js';
import type { SessionCookieCodec } from '../session/session-cookie.js';
import type { SessionRecord, SessionStore } from '../session/session-store.js';
import type { GatewayState } from './gateway-state.js';

type Ctx = Context & { state: GatewayState };

export interface SessionAccess {
  /** The session id named by a validly signed cookie, or null; no store call. */
  cookieSessionId(ctx: Ctx): string | null;
  /** The live session of this request or null (memoised on ctx.state). Store failures propagate as StoreError. */
  load(ctx: Ctx): Promise<SessionRecord | null>;
  /** The live session with this id or null, counting as activity for the idle timeout (WebSocket handshakes have no Koa context). */
  loadById(id: string): Promise<SessionRecord | null>;
  /** The live session, or throws 401 after clearing the cookie. */
  require(ctx: Ctx): Promise<SessionRecord>;
  setCookie(ctx: Ctx, record: SessionRecord): void;
  clearCookie(ctx: Ctx): void;
}

// Idle tracking writes at most once per this fraction of the idle timeout, so
// a busy SPA does not turn every read into a write.
const IDLE_TOUCH_FRACTION = 0.05;

export function createSessionAccess(deps: {
  config: Config;
  store: SessionStore;
  cookies: SessionCookieCodec;
  clock: Clock;
}): SessionAccess {
  const { config, store, cookies, clock } = deps;
  const name = config.session.cookieName;
  const idleMs = config.session.idleTimeoutSeconds === undefined ? undefined : config.session.idleTimeoutSeconds * 1000;

  const cookieOptions = (ctx: Ctx) => {
    // TLS may end at the load balancer: PUBLIC_URL, not the socket, decides Secure.
    if (config.secureCookies) ctx.cookies.secure = true;
    return { httpOnly: true, sameSite: 'lax' as const, path: '/', secure: config.secureCookies, overwrite: true, signed: false };
  };

  const access: SessionAccess = {
    cookieSessionId(ctx) {
      return cookies.verify(ctx.cookies.get(name));
    },

    async load(ctx) {
      if (ctx.state.session !== undefined) return ctx.state.session;
      const id = access.cookieSessionId(ctx);
      const record = id === null ? null : await access.loadById(id);
      ctx.state.session = record;
      return record;
    },

    async loadById(id) {
      const record = await store.get(id);
      return record && idleMs !== undefined ? applyIdleTimeout(record, idleMs) : record;
    },

    async require(ctx) {
      const record = await access.load(ctx);
      if (record) return record;
      if (ctx.cookies.get(name) !== undefined) access.clearCookie(ctx);
      throw new UnauthenticatedError();
    },

    setCookie(ctx, record) {
      const maxAge = Math.max(0, record.expires_at_ms - clock());
      ctx.cookies.set(name, cookies.sign(record.id), { ...cookieOptions(ctx), maxAge });
    },

    clearCookie(ctx) {
      ctx.cookies.set(name, '', { ...cookieOptions(ctx), maxAge: 0, expires: new Date(0) });
    },
  };

  async function applyIdleTimeout(record: SessionRecord, limitMs: number): Promise<SessionRecord | null> {
    const now = clock();
    const lastSeen = record.last_seen_at_ms ?? record.created_at_ms;
    if (now - lastSeen >= limitMs) {
      await store.delete(record.id);
      return null;
    }
    if (now - lastSeen < limitMs * IDLE_TOUCH_FRACTION) return record;
    return (await store.update(record.id, { last_seen_at_ms: now })) ?? null;
  }

  return access;
}
