import type { Context, Middleware, Next } from 'koa';

/**
 * Headers every answer of ours carries. Proxied upstream answers keep their
 * own (the upstream owns its content), except what the proxy strips.
 *
 * Runs on every request, so it sets the constant headers on the Node
 * response directly (Koa's ctx.set builds arrays per call) and is not async
 * (a plain `return next()` adds no promise).
 */
export function securityHeaders(options: { hsts: boolean }): Middleware {
  const headers = securityHeaderList(options);
  return (ctx: Context, next: Next) => {
    const res = ctx.res;
    for (const [name, value] of headers) res.setHeader(name, value);
    // Nothing under /auth/ may be cached: it carries sessions, codes and user data.
    if (ctx.path.startsWith('/auth/')) res.setHeader('Cache-Control', 'no-store');
    return next();
  };
}

/** The headers every answer of ours carries, as [name, value] pairs (proxy-dispatch.ts sends them in its one writeHead). */
export function securityHeaderList(options: { hsts: boolean }): readonly (readonly [string, string])[] {
  return [
    ['X-Content-Type-Options', 'nosniff'],
    ['Referrer-Policy', 'no-referrer'],
    ['X-Frame-Options', 'DENY'],
    ['Cross-Origin-Opener-Policy', 'same-origin'],
    ...(options.hsts ? [['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'] as const] : []),
  ];
}
