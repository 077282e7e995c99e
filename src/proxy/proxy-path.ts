import type { ProxyRoute } from '../config/config.js';

export type ProxyMatch =
  | { readonly kind: 'none' }
  | { readonly kind: 'invalid'; readonly route: ProxyRoute }
  | {
      readonly kind: 'match';
      readonly route: ProxyRoute;
      readonly upstreamPath: string;
      /** The target's origin, one string per route: a URL's `origin` getter builds a new one per call. */
      readonly origin: string;
    };

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
    const { prefix } = route;
    // A segment boundary: the prefix itself, or the prefix and a `/` (no `${prefix}/` string per route and request).
    if (!rawPath.startsWith(prefix) || (rawPath.length > prefix.length && rawPath.charCodeAt(prefix.length) !== 0x2f)) continue;
    // stripPrefix: false (ROUTES_FILE) sends the whole path, prefix included, below the target's base.
    const stripped = route.policy?.stripPrefix === false ? rawPath : rawPath.slice(prefix.length);
    const rest = stripped.charCodeAt(0) === 0x2f && stripped.charCodeAt(1) === 0x2f ? stripped.replace(/^\/+/, '/') : stripped;
    if (!isConfinedRest(rest)) return { kind: 'invalid', route };
    const { basePath, origin } = resolvedTarget(route);
    const joined = `${basePath}${rest}` || '/';
    return { kind: 'match', route, upstreamPath: `${joined}${query}`, origin };
  }
  return { kind: 'none' };
}

// The target's base path without trailing slashes and its origin, once per route (routes live as long as the
// config). The same origin string on every request also keeps its hash: the upstream pool is looked up by it.
const resolvedTargets = new WeakMap<ProxyRoute, { basePath: string; origin: string }>();

function resolvedTarget(route: ProxyRoute): { basePath: string; origin: string } {
  let resolved = resolvedTargets.get(route);
  if (resolved === undefined) {
    resolved = { basePath: route.target.pathname.replace(/\/+$/, ''), origin: route.target.origin };
    resolvedTargets.set(route, resolved);
  }
  return resolved;
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
