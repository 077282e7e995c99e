import { createHash } from 'node:crypto';
import type { Context } from 'koa';

/** The `source` of the message /auth/silent-login's page posts, for the SPA's listener to recognise it. */
const SILENT_LOGIN_MESSAGE_SOURCE = 'bff-silent-login';

/**
 * The page that ends a silent login (/auth/silent-login → prompt=none →
 * /auth/callback) inside the SPA's hidden iframe: it tells the parent window
 * whether the browser is now logged in, and nothing else.
 *
 * The message goes to PUBLIC_URL's origin only: with "*" any page that framed
 * this one would learn whether the visitor is logged in. The one inline script
 * is allowed by its hash, so the CSP needs no 'unsafe-inline'; only the SPA's
 * own origin may frame the page.
 */
export function answerSilentLogin(ctx: Context, publicOrigin: string, isLoggedIn: boolean): void {
  // JSON gives a quoted JS string; "<" escaped so the origin can never close the script element.
  const target = JSON.stringify(publicOrigin).replace(/</g, '\\u003c');
  const script = `parent.postMessage({source:${JSON.stringify(SILENT_LOGIN_MESSAGE_SOURCE)},isLoggedIn:${isLoggedIn}},${target});`;
  const hash = createHash('sha256').update(script).digest('base64');
  ctx.res.removeHeader('X-Frame-Options');
  ctx.set('Content-Security-Policy', `default-src 'none'; script-src 'sha256-${hash}'; frame-ancestors 'self'`);
  ctx.set('Cache-Control', 'no-store');
  ctx.status = 200;
  ctx.type = 'text/html; charset=utf-8';
  ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Silent login</title></head><body><script>${script}</script></body></html>\n`;
}
