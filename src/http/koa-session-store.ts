import type { Context } from 'koa';
import type { SessionRecord, SessionStore } from '../session/session-store.js';
import type { SessionAccess } from './session-access.js';
import { toSessionView, type BffSessionView } from './session-view.js';

/** A session about to be created by a login: everything but the id, which koa-session's `genid` gives. */
export type SessionDraft = Omit<SessionRecord, 'id'>;

/** Per-request facts the adapter shares with the routes; WeakMaps, so a host app's ctx.state never holds a token. */
export interface RequestSessions {
  /** The live record of this request as the adapter loaded it (undefined = not loaded, null = none). */
  readonly live: WeakMap<Context, SessionRecord | null>;
  /** A login's new session, waiting for koa-session to name it and save it. */
  readonly pending: WeakMap<Context, SessionDraft>;
  /** Requests whose session read must not count as activity for the idle timeout (/auth/me?slide=false). */
  readonly quiet: WeakSet<Context>;
}

/** koa-session passes the request's ctx to each call (typed optional there; always given since koa-session 6). */
interface WithContext {
  ctx?: Context;
}

export interface KoaSessionStore {
  get(key: string, maxAge: number | 'session' | undefined, options: WithContext): Promise<BffSessionView | null>;
  set(key: string, view: unknown, maxAge: number | 'session' | undefined, options: WithContext): Promise<void>;
  destroy(key: string, options: WithContext): Promise<void>;
}

function contextOf(options: WithContext): Context {
  if (!options.ctx) throw new Error('koa-session called the store without a context');
  return options.ctx;
}

/**
 * koa-session's external store (`{get, set, destroy}`) over any SessionStore
 * (memory, Redis in every topology, migration, fallback): they share one
 * interface, so one adapter serves all.
 *
 * koa-session sees a view of the record (claims, roles, expiry), never the
 * tokens. Its `maxAge` is ignored: koa-session re-sends it on every save,
 * while the record's end is fixed at creation and enforced by the store (PXAT).
 */
export function createKoaSessionStore(deps: { store: SessionStore; sessions: SessionAccess; requests: RequestSessions }): KoaSessionStore {
  const { store, sessions, requests } = deps;
  return {
    // The one definition of "the live session": the same loadById (store read + idle timeout) the proxy uses.
    async get(key, _maxAge, options) {
      const ctx = contextOf(options);
      const record = await sessions.loadById(key, { slide: !requests.quiet.has(ctx) });
      requests.live.set(ctx, record);
      return record && toSessionView(record);
    },

    // Only a login saves: the view is read-only (a host app's edits to ctx.session are not persisted;
    // autoCommit is off, so only the login's regenerate() reaches here).
    async set(key, _view, _maxAge, options) {
      const ctx = contextOf(options);
      const draft = requests.pending.get(ctx);
      if (!draft) return;
      requests.pending.delete(ctx);
      const record: SessionRecord = { ...draft, id: key };
      await store.create(record);
      requests.live.set(ctx, record);
    },

    // koa-session destroys its current key before a regenerate: that is the session this browser's cookie
    // names (deleted: session fixation), or a key it generated for this request and never stored (skipped).
    async destroy(key, options) {
      const ctx = contextOf(options);
      if (sessions.cookieSessionId(ctx) !== key) return;
      await store.delete(key);
      requests.live.set(ctx, null);
    },
  };
}
