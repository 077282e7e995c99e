import type { ForwardCookies } from './config.js';

/** RFC 6265 cookie-name characters (an HTTP token). */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** PROXY_FORWARD_COOKIES: `all`, `none`, or a comma-separated list of cookie names. */
export function parseForwardCookies(text: string): { forwardCookies: ForwardCookies; problems: string[] } {
  const value = text.trim();
  if (value === 'all') return { forwardCookies: { mode: 'all' }, problems: [] };
  if (value === 'none') return { forwardCookies: { mode: 'none' }, problems: [] };
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = names.filter((name) => !COOKIE_NAME.test(name));
  if (names.length === 0 || bad.length > 0) {
    const got = bad.length > 0 ? ` (not a cookie name: "${bad[0]}")` : '';
    return { forwardCookies: { mode: 'all' }, problems: [`PROXY_FORWARD_COOKIES must be all, none or a comma-separated list of cookie names${got}`] };
  }
  return { forwardCookies: { mode: 'only', names: [...new Set(names)] }, problems: [] };
}
