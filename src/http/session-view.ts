import type { SessionRecord } from '../session/session-store.js';

/**
 * What `ctx.session` holds for a logged-in browser: claims, roles and expiry,
 * never a token or the session id. The same facts /auth/me answers with.
 */
export interface BffSessionView {
  /** ID-token claims overlaid by userinfo, minus protocol claims, with `roles`. */
  readonly user: Readonly<Record<string, unknown>>;
  /** Sorted, de-duplicated roles (the same list as `user.roles`). */
  readonly roles: readonly string[];
  /** ISO 8601. */
  readonly created_at: string;
  /** ISO 8601: when the session ends at the latest (absolute end or refresh-token expiry). */
  readonly expires_at: string;
}

export function toSessionView(record: Pick<SessionRecord, 'user_info' | 'created_at_ms' | 'expires_at_ms'>): BffSessionView {
  const roles = record.user_info['roles'];
  return {
    user: record.user_info,
    roles: Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : [],
    created_at: new Date(record.created_at_ms).toISOString(),
    expires_at: new Date(record.expires_at_ms).toISOString(),
  };
}

/**
 * The session view koa-session loaded for this request, or null when the
 * request has no live session (koa-session then holds an empty, new object).
 */
export function sessionOf(ctx: { readonly [key: string]: unknown }): BffSessionView | null {
  const session = ctx['session'] as Partial<BffSessionView> | null | undefined;
  return session && typeof session.expires_at === 'string' ? (session as BffSessionView) : null;
}
