import type Koa from 'koa';
import type { Context, Middleware, Next } from 'koa';
import createSession from 'koa-session';
import type { Clock } from '../clock.js';
import type { Config } from '../config/config.js';
import { UnauthenticatedError } from '../errors.js';
import { newSessionId } from '../session/session-cookie.js';
import type { SessionRecord, SessionStore } from '../session/session-store.js';
import { createKoaSessionStore, type RequestSessions, type SessionDraft } from './koa-session-store.js';
import type { SessionAccess } from './session-access.js';
import { toSessionView, type BffSessionView } from './session-view.js';

/** The part of koa-session's Session object the gateway uses. */
interface KoaSessionObject {
  readonly isNew?: boolean;
  regenerate(): Promise<void>;
}

/**
 * koa-session as the session middleware of /auth/* and of a host app's own
 * routes, over our SessionStore and our cookie codec. The options, and why:
 *
 * - `store`: external-store mode over SessionStore (koa-session-store.ts).
 * - `externalKey`: the cookie is read and written by our codec, so its format
 *   (`<id>.<HMAC>`, SESSION_SECRET rotation: the first signs, all verify) and
 *   its attributes (Max-Age to the absolute end) stay the contract's.
 * - `genid`: 32 random bytes, base64url (koa-session's UUIDs carry 122 bits).
 * - `valid`: a view past its end is no session, by the gateway's clock (nor
 *   is its record the live one: both say "no session").
 * - `autoCommit: false`: a request that only reads the session never writes
 *   it; the login commits explicitly with regenerate() (fresh id, old one
 *   destroyed). Idle-timeout activity is recorded by the store read itself.
 * - `rolling`/`renew`: off. Both re-save with a new maxAge, which would move
 *   the absolute end and write unchanged sessions.
 * - `signed: false`: the signature is ours (externalKey); koa-session's would need app.keys.
 */
export interface SessionLayer {
  /** koa-session on this app (made once per app: it extends `app.context`). */
  middlewareFor(app: Koa): Middleware;
  /** koa-session for one route (mounted per route, after the router matched: metrics and logs name the route). */
  readonly load: Middleware;
  /** Like `load`, but reading the session is not activity for the idle timeout (an idle session still ends). */
  readonly loadWithoutSliding: Middleware;
  /** The live session as loaded by the middleware; null when none. */
  live(ctx: Context): SessionRecord | null;
  /** Replaces the live record of this request (after a refresh). */
  setLive(ctx: Context, record: SessionRecord): void;
  /** The live session, or throws 401 after clearing a cookie the browser sent. */
  require(ctx: Context): SessionRecord;
  /** Throws 401 after clearing a cookie the browser sent (the request has no live session). */
  refuse(ctx: Context): never;
  /** A login: replaces whatever session this browser had with a new one (new id, cookie set). */
  startSession(ctx: Context, draft: SessionDraft): Promise<SessionRecord>;
}

export function createSessionLayer(deps: { config: Config; store: SessionStore; sessions: SessionAccess; clock: Clock }): SessionLayer {
  const { config, store, sessions, clock } = deps;
  const requests: RequestSessions = { live: new WeakMap(), pending: new WeakMap(), quiet: new WeakSet() };
  const perApp = new WeakMap<Koa, Middleware>();
  const cookieName = config.session.cookieName;

  const options = {
    key: cookieName,
    maxAge: config.session.ttlSeconds * 1000,
    autoCommit: false,
    rolling: false,
    renew: false,
    signed: false,
    httpOnly: true,
    sameSite: 'lax',
    store: createKoaSessionStore({ store, sessions, requests }),
    genid: () => newSessionId(),
    externalKey: {
      get: (ctx: Context) => sessions.cookieSessionId(ctx) ?? '',
      set: (ctx: Context, id: string) => {
        const record = requests.live.get(ctx);
        if (record && record.id === id) sessions.setCookie(ctx, record);
      },
    },
    valid: (ctx: Context, view: BffSessionView) => {
      if (Date.parse(view.expires_at) > clock()) return true;
      // koa-session starts an empty session instead: the live record must agree (no settings, no accessToken()).
      requests.live.set(ctx, null);
      return false;
    },
  };

  const layer: SessionLayer = {
    middlewareFor(app) {
      let middleware = perApp.get(app);
      if (!middleware) {
        middleware = createSession({ ...options }, app) as Middleware;
        perApp.set(app, middleware);
      }
      return middleware;
    },

    load: (ctx: Context, next: Next) => layer.middlewareFor(ctx.app)(ctx, next),

    loadWithoutSliding: (ctx: Context, next: Next) => {
      requests.quiet.add(ctx);
      return layer.load(ctx, next);
    },

    live(ctx) {
      return requests.live.get(ctx) ?? null;
    },

    setLive(ctx, record) {
      requests.live.set(ctx, record);
    },

    require(ctx) {
      return layer.live(ctx) ?? layer.refuse(ctx);
    },

    refuse(ctx) {
      if (ctx.cookies.get(cookieName) !== undefined) sessions.clearCookie(ctx);
      throw new UnauthenticatedError();
    },

    async startSession(ctx, draft) {
      requests.pending.set(ctx, draft);
      // koa-session loads the session this browser's cookie names only now, after the callback's checks:
      // then regenerate() destroys it (session fixation), names the new one with genid, saves it through
      // the store adapter and sets the cookie through externalKey.set.
      await layer.load(ctx, async () => {
        ctx['session'] = toSessionView(draft);
        await (ctx['session'] as KoaSessionObject).regenerate();
      }).catch((err: unknown) => {
        // The old session may be gone already and koa-session wrote its own clearing header: ours replaces it.
        sessions.clearCookie(ctx);
        throw err;
      });
      const record = requests.live.get(ctx);
      if (!record || requests.pending.has(ctx)) throw new Error('koa-session did not save the new session');
      return record;
    },
  };
  return layer;
}
