import type { ProxyRoute } from '../config/config.js';

export type ProxyMatch =
  | { readonly kind: 'none' }
  | { readonly kind: 'invalid'; readonly route: ProxyRoute }
  | { readonly kind: 'match'; readonly route: ProxyRoute; readonly upstreamPath: string };

/**
 * Maps a raw request target (`/api/x?y=1`, not decoded) onto the route with
 * the longest prefix that matches on a segment boundary. The rest of the path
 * is joined to the target's base path with exactly one `/`, query kept. A rest
 * that could climb out of the base (dot segments, encoded or not; encoded
 * slashes or backslashes) is `invalid`.
 *
 * `routes` must be sorted longest prefix first (parseProxyRoutes does).
 */
export function matchProxyRoute(routes: readonly ProxyRoute[], rawTarget: string): ProxyMatch {
  const q = rawTarget.indexOf('?');
  const rawPath = q === -1 ? rawTarget : rawTarget.slice(0, q);
  const query = q === -1 ? '' : rawTarget.slice(q);
  for (const route of routes) {
    if (rawPath !== route.prefix && !rawPath.startsWith(`${route.prefix}/`)) continue;
    // stripPrefix: false (ROUTES_FILE) sends the whole path, prefix included, below the target's base.
    const rest = (route.policy?.stripPrefix === false ? rawPath : rawPath.slice(route.prefix.length)).replace(/^\/+/, '/');
    if (!isConfinedRest(rest)) return { kind: 'invalid', route };
    const base = route.target.pathname.replace(/\/+$/, '');
    const joined = `${base}${rest}` || '/';
    return { kind: 'match', route, upstreamPath: `${joined}${query}` };
  }
  return { kind: 'none' };
}

function isConfinedRest(rest: string): boolean {
  // Without a dot, a percent sign or a backslash no segment can climb out: the common case, one scan.
  if (!/[.%\\]/.test(rest)) return true;
  if (/%2f|%5c|\\|%00/i.test(rest)) return false;
  for (const segment of rest.split('/')) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return false;
    }
    // Servlet containers read `..;x` as `..` (path parameters): judge the part before `;`.
    for (const candidate of [segment, decoded, segment.split(';')[0]!, decoded.split(';')[0]!]) {
      // Also catches double encoding (%252e%252e decodes to an encoded dot segment).
      if (/^(%2e|\.){1,2}$/i.test(candidate)) return false;
    }
  }
  return true;
}
