import type { ForwardCookies } from '../config/config.js';

/**
 * The cookie names the gateway owns: the session cookie and the per-login
 * binding cookies (`<name>_tx_<8 hex>`). Upstreams never see them and can
 * never set them (CONTRACT.md "Reverse proxy").
 */
export function gatewayCookieMatcher(cookieName: string): (name: string) => boolean {
  const bindingPrefix = `${cookieName}_tx_`;
  return (name) => name === cookieName || name.startsWith(bindingPrefix);
}

/**
 * PROXY_FORWARD_COOKIES as a test on a browser cookie's name: may it go
 * upstream? (The gateway's own cookies never do, whatever this says.)
 */
export function forwardedCookieMatcher(forward: ForwardCookies): (name: string) => boolean {
  switch (forward.mode) {
    case 'all':
      return () => true;
    case 'none':
      return () => false;
    case 'only': {
      const names = new Set(forward.names);
      return (name) => names.has(name);
    }
  }
}

/** The first value of cookie `name` in a Cookie request header (as Koa's cookies reads it), or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}
