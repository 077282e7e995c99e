import fc from 'fast-check';
import { expect, it } from 'vitest';
import { parseProxyRoutes } from '../../../src/config/parse-proxy-routes.js';
import { matchProxyRoute } from '../../../src/proxy/proxy-path.js';

const { routes } = parseProxyRoutes('/api=http://api.internal:8080/base,/api/v2=http://v2.internal/deep/er');
const piece = fc.oneof(
  fc.stringMatching(/^[a-z0-9._~-]{0,8}$/),
  fc.constantFrom('..', '.', '%2e', '%2E%2e', '%252e', '%2f', '%5c', '\\', '', '%00', '%2e%2e', '.%2e'),
);
const rawPath = fc.tuple(fc.constantFrom('/api', '/api/v2', '/apiary', '/other'), fc.array(piece, { maxLength: 6 }), fc.option(fc.stringMatching(/^[a-z=&%0-9]{0,10}$/)))
  .map(([prefix, segments, query]) => `${prefix}${segments.length ? `/${segments.join('/')}` : ''}${query ? `?${query}` : ''}`);

it('never maps a request outside the target base path, even after URL normalisation upstream', () => {
  fc.assert(
    fc.property(rawPath, (target) => {
      const match = matchProxyRoute(routes, target);
      const path = target.split('?')[0]!;
      const underRoute = path === '/api' || path.startsWith('/api/');
      if (!underRoute) {
        expect(match.kind).toBe('none');
        return;
      }
      // A rest that climbs (dot segments, encoded or not; encoded separators) is refused, everything else maps.
      const climbs = path.split('/').some((segment) => /^(\.|%2e){1,2}$/i.test(segment) || /^(\.|%2e){1,2}$/i.test(safeDecode(segment)))
        || /%2f|%5c|\\|%00|%25/i.test(path);
      if (!climbs) expect(match.kind).toBe('match');
      if (match.kind !== 'match') {
        expect(match.kind).toBe('invalid');
        return;
      }
      const base = match.route.target.pathname.replace(/\/+$/, '');
      const resolved = new URL(match.upstreamPath, match.origin);
      expect(resolved.pathname === base || resolved.pathname.startsWith(`${base}/`)).toBe(true);
      // Exactly one / at the join (inner empty segments are the client's own and pass through).
      expect(match.upstreamPath.slice(base.length).startsWith('//')).toBe(false);
    }),
    { numRuns: 5000 },
  );
});

it('routes on segment boundaries only, longest prefix first', () => {
  fc.assert(
    fc.property(rawPath, (target) => {
      const path = target.split('?')[0]!;
      const match = matchProxyRoute(routes, target);
      if (path === '/apiary' || path.startsWith('/apiary/') || path.startsWith('/other')) {
        expect(match.kind).toBe('none');
        return;
      }
      // Every remaining sample is under /api: routed (matched or refused as invalid), never 'none'.
      if (match.kind === 'none') throw new Error(`${target} was not routed`);
      const expected = path === '/api/v2' || path.startsWith('/api/v2/') ? '/api/v2' : '/api';
      expect(match.route.prefix).toBe(expected);
    }),
    { numRuns: 3000 },
  );
});

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
