import type { IncomingHttpHeaders } from 'node:http';
import type { Context, Middleware, Next } from 'koa';
import { CsrfRequiredError, OriginMismatchError } from '../errors.js';

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** True for a request whose Origin header is present and not PUBLIC_URL's origin. */
function hasForeignOrigin(ctx: Context, publicOrigin: string): boolean {
  return isForeignOrigin(ctx.req.headers, publicOrigin);
}

/** True when the request carries `X-CSRF: 1`, which a cross-site form or image cannot add without CORS. */
function hasCsrfHeader(ctx: Context): boolean {
  return carriesCsrfHeader(ctx.req.headers);
}

/** hasForeignOrigin on the request's headers (as ctx.get reads them: absent = ''), for code without a Koa context. */
export function isForeignOrigin(headers: IncomingHttpHeaders, publicOrigin: string): boolean {
  const origin = headers.origin ?? '';
  return origin !== '' && origin !== publicOrigin;
}

/** hasCsrfHeader on the request's headers, for code without a Koa context. */
export function carriesCsrfHeader(headers: IncomingHttpHeaders): boolean {
  return headers['x-csrf'] === '1';
}

/**
 * Refuses unsafe methods from a foreign Origin (403 origin_mismatch).
 * `exempt` paths do their own checks: back-channel logout comes from the
 * provider, and proxied routes check X-CSRF before Origin.
 */
export function originGuard(publicOrigin: string, exempt: (path: string) => boolean): Middleware {
  // Not async: koa-compose turns the synchronous throw into a rejection all the same.
  return (ctx: Context, next: Next) => {
    if (UNSAFE_METHODS.has(ctx.method) && !exempt(ctx.path) && hasForeignOrigin(ctx, publicOrigin)) {
      throw new OriginMismatchError();
    }
    return next();
  };
}

/** Logout needs `X-CSRF: 1` or a same-origin Origin (a plain HTML form on our page works). */
export function assertLogoutAllowed(ctx: Context, publicOrigin: string): void {
  if (hasCsrfHeader(ctx) || ctx.get('Origin') === publicOrigin) return;
  throw new CsrfRequiredError();
}
