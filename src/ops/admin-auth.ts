import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Middleware, Next } from 'koa';
import type { Logger } from 'pino';
import type { AdminState } from './admin-app.js';

/**
 * Guards the admin port's session management with `Authorization: Bearer
 * ADMIN_TOKEN`. With no token configured the routes do not exist (404), so an
 * admin port reachable by mistake cannot end anyone's session.
 */
export function adminBearerAuth(deps: { adminToken?: string; logger: Logger }): Middleware {
  const { adminToken, logger } = deps;
  // Digests have a fixed length, so timingSafeEqual never throws and the
  // comparison time says nothing about the token's length or content.
  const expected = adminToken === undefined ? undefined : digest(adminToken);

  return async (ctx: Context, next: Next) => {
    if (expected === undefined) {
      ctx.status = 404;
      ctx.body = { error: 'not_found', message: 'Session management is off: ADMIN_TOKEN is not set.' };
      return;
    }
    const presented = /^Bearer +(\S+) *$/i.exec(ctx.get('Authorization'))?.[1];
    if (presented === undefined || !timingSafeEqual(digest(presented), expected)) {
      ((ctx.state as Partial<AdminState>).log ?? logger).warn({ event: 'admin_auth_failed', method: ctx.method, path: ctx.path, token_presented: presented !== undefined }, 'admin request refused');
      ctx.status = 401;
      ctx.set('WWW-Authenticate', presented === undefined ? 'Bearer realm="oidc-bff-admin"' : 'Bearer realm="oidc-bff-admin", error="invalid_token"');
      ctx.body = { error: 'unauthenticated', message: 'This needs Authorization: Bearer <ADMIN_TOKEN>.' };
      return;
    }
    await next();
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
