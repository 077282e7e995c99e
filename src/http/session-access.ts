import type { Context } from 'koa';
import type { Clock } from '../clock.js';
import type { Config } from '../config/config.js';
import { UnauthenticatedError } from '../errors.js';
import type { SessionCookieCodec } from '../session/session-cookie.js';
import type { SessionRecord, SessionStore } from '../session/session-store.js';
import type { GatewayState } from './gateway-state.js';
import { cookieValueReader } from './cookie-value.js';
import { setCookie } from './set-cookie.js';

type Ctx = Context & { state: GatewayState };

export interface SessionAccess {
  /** The session id named by a validly signed cookie, or null; no store call. */
  cookieSessionId(ctx: Ctx): string | null;
  /** The session cookie's value in a Cookie request header, read as Koa's ctx.cookies.get reads it; undefined when absent. */
  cookieValue(header: string | undefined): string | undefined;
  /**
   * The live session a session cookie value names, or null: signature check (any SESSION_SECRET), store read,
   * idle timeout. What load(ctx) does, without a Koa context (proxied requests dispatched before Koa).
   */
  loadByCookie(value: string | undefined): Promise<SessionRecord | null>;
  /**
   * loadByCookie without a promise when the answer is already in memory (the store's peek) and reading it
   * changes nothing (no idle timeout to slide); undefined whenever loadByCookie must be asked.
   */
  peekByCookie(value: string | undefined): SessionRecord | undefined;
  /** The live session of this request or null (memoised on ctx.state). Store failures propagate as StoreError. */
  load(ctx: Ctx): Promise<SessionRecord | null>;
  /**
   * The live session with this id or null, counting as activity for the idle timeout (WebSocket handshakes
   * have no Koa context) unless `slide: false`: then an idle session still ends, but a live one is not kept alive.
   */
  loadById(id: string, options?: { slide?: boolean }): Promise<SessionRecord | null>;
  /** The live session, or throws 401 after clearing the cookie. */
  require(ctx: Ctx): Promise<SessionRecord>;
  setCookie(ctx: Ctx, record: SessionRecord): void;
  clearCookie(ctx: Ctx): void;
}

// Idle tracking writes at most once a second (or per 5 % of a limit shorter
// than 20 s), so a busy SPA does not turn every read into a write, and no
// session ends more than that early.
const IDLE_TOUCH_MAX_MS = 1_000;
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
  const touchEveryMs = idleMs === undefined ? 0 : Math.min(IDLE_TOUCH_MAX_MS, idleMs * IDLE_TOUCH_FRACTION);

  // Read as the cookies package reads it (ctx.cookies.get), so both request paths see the same value.
  const cookieValue = cookieValueReader(name);

  const access: SessionAccess = {
    cookieSessionId(ctx) {
      return cookies.verify(access.cookieValue(ctx.req.headers.cookie));
    },

    cookieValue,

    loadByCookie(value) {
      const id = cookies.verify(value);
      return id === null ? Promise.resolve(null) : access.loadById(id);
    },

    peekByCookie(value) {
      if (idleMs !== undefined || !store.peek) return undefined;
      const id = cookies.verify(value);
      return id === null ? undefined : store.peek(id);
    },

    async load(ctx) {
      if (ctx.state.session !== undefined) return ctx.state.session;
      const record = await access.loadByCookie(access.cookieValue(ctx.req.headers.cookie));
      ctx.state.session = record;
      return record;
    },

    loadById(id, options = {}) {
      // Without an idle timeout the store's own promise is the answer: no async frame per proxied request.
      if (idleMs === undefined) return store.get(id);
      return store.get(id).then((record) => (record ? applyIdleTimeout(record, idleMs, options.slide ?? true) : record));
    },

    async require(ctx) {
      const record = await access.load(ctx);
      if (record) return record;
      if (access.cookieValue(ctx.req.headers.cookie) !== undefined) access.clearCookie(ctx);
      throw new UnauthenticatedError();
    },

    setCookie(ctx, record) {
      // The cookie lives until the session's absolute end: a browser restart keeps the login, and a
      // refresh-token cap (which moves later at each refresh) never drops the cookie early. The store's
      // expiry is what counts; the cookie is only the key.
      const absoluteEndMs = record.created_at_ms + config.session.ttlSeconds * 1000;
      const maxAgeSeconds = Math.max(0, (absoluteEndMs - clock()) / 1000);
      setCookie(ctx, name, cookies.sign(record.id), { path: '/', secure: config.secureCookies, maxAgeSeconds });
    },

    clearCookie(ctx) {
      setCookie(ctx, name, '', { path: '/', secure: config.secureCookies, maxAgeSeconds: 0 });
    },
  };

  async function applyIdleTimeout(record: SessionRecord, limitMs: number, slide: boolean): Promise<SessionRecord | null> {
    const now = clock();
    const lastSeen = record.last_seen_at_ms ?? record.created_at_ms;
    if (now - lastSeen >= limitMs) {
      await store.delete(record.id);
      return null;
    }
    if (!slide || now - lastSeen < touchEveryMs) return record;
    return (await store.update(record.id, { last_seen_at_ms: now })) ?? null;
  }

  return access;
}
