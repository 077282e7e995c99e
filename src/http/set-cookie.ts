import type { Context } from 'koa';

export interface CookieAttributes {
  path: string;
  /** Seconds; 0 deletes the cookie. Undefined = a browser-session cookie. */
  maxAgeSeconds?: number;
  secure: boolean;
}

/**
 * Writes one Set-Cookie header (replacing an earlier one of the same name in
 * this response). Written by hand rather than with ctx.cookies: the contract
 * wants `Max-Age`, which the cookies package does not emit, and TLS may end at
 * a load balancer, so `Secure` follows PUBLIC_URL rather than the socket.
 * Always HttpOnly and SameSite=Lax.
 */
export function setCookie(ctx: Context, name: string, value: string, attributes: CookieAttributes): void {
  const parts = [`${name}=${value}`, `Path=${attributes.path}`];
  if (attributes.maxAgeSeconds !== undefined) {
    const seconds = Math.max(0, Math.floor(attributes.maxAgeSeconds));
    parts.push(`Max-Age=${seconds}`, `Expires=${new Date(seconds === 0 ? 0 : Date.now() + seconds * 1000).toUTCString()}`);
  }
  parts.push('HttpOnly', 'SameSite=Lax');
  if (attributes.secure) parts.push('Secure');

  const existing = ctx.response.get('Set-Cookie') as string | string[] | undefined;
  const others = (Array.isArray(existing) ? existing : existing ? [existing] : []).filter((c) => !c.startsWith(`${name}=`));
  ctx.set('Set-Cookie', [...others, parts.join('; ')]);
}
