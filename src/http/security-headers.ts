import type { Context, Middleware, Next } from 'koa';

/**
 * Headers every answer of ours carries. Proxied upstream answers keep their
 * own (the upstream owns its content), except what the proxy strips.
 */
export function securityHeaders(options: { hsts: boolean }): Middleware {
  return async (ctx: Context, next: Next) => {
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    if (options.hsts) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    // Nothing under /auth/ may be cached: it carries sessions, codes and user data.
    if (ctx.path.startsWith('/auth/')) ctx.set('Cache-Control', 'no-store');
    await next();
  };
}
