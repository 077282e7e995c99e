/**
 * The cookie names the gateway owns: the session cookie and the per-login
 * binding cookies (`<name>_tx_<8 hex>`). Upstreams never see them and can
 * never set them (CONTRACT.md "Reverse proxy").
 */
export function gatewayCookieMatcher(cookieName: string): (name: string) => boolean {
  const bindingPrefix = `${cookieName}_tx_`;
  return (name) => name === cookieName || name.startsWith(bindingPrefix);
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
