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
