import type { Context, Next } from 'koa';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { claimsForScope, type DevUserDirectory } from './dev-users.js';

export interface DevUserinfoDeps {
  issuer: string;
  /** Absolute path of the userinfo endpoint. */
  path: string;
  publicJwks: JSONWebKeySet;
  users: DevUserDirectory;
  /** Whether a provider session with this `sid` still exists. */
  isSessionActive(sid: string): boolean;
}

/**
 * Userinfo for JWT access tokens, answered as Keycloak does.
 *
 * oidc-provider refuses every access token that has an audience at its
 * userinfo endpoint ("token audience prevents accessing the userinfo
 * endpoint"), and JWT access tokens always have one. Keycloak accepts its own
 * access tokens there, so the dev provider answers those requests itself: the
 * token must verify against the provider's keys, be unexpired, and its
 * provider session (`sid`) must still exist, as Keycloak checks the user
 * session. Anything that is not a JWT falls through to oidc-provider.
 */
export function createDevUserinfo(deps: DevUserinfoDeps) {
  const keys = createLocalJWKSet(deps.publicJwks);

  return async function devUserinfo(ctx: Context, next: Next): Promise<void> {
    if (ctx.path !== deps.path || (ctx.method !== 'GET' && ctx.method !== 'POST')) return next();
    const token = /^Bearer ([\w-]+\.[\w-]+\.[\w-]+)$/i.exec(ctx.get('authorization'))?.[1];
    if (!token) return next();

    ctx.set('cache-control', 'no-store');
    let claims: Record<string, unknown> | undefined;
    try {
      const { payload } = await jwtVerify(token, keys, { issuer: deps.issuer, typ: 'at+jwt' });
      const user = typeof payload.sub === 'string' ? deps.users.findBySub(payload.sub) : undefined;
      const sid = typeof payload['sid'] === 'string' ? payload['sid'] : undefined;
      if (user && (sid === undefined || deps.isSessionActive(sid))) {
        claims = { ...claimsForScope(user, String(payload['scope'] ?? '')), sub: payload.sub };
      }
    } catch {
      claims = undefined;
    }
    if (!claims) {
      ctx.status = 401;
      ctx.set('www-authenticate', 'Bearer error="invalid_token", error_description="invalid token"');
      ctx.body = { error: 'invalid_token', error_description: 'invalid token' };
      return;
    }
    ctx.body = claims;
  };
}
