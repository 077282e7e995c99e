import { describe, expect, it } from 'vitest';
import { parseProxyRoutes } from '../../../src/config/parse-proxy-routes.js';
import { matchProxyRoute } from '../../../src/proxy/proxy-path.js';

const { routes } = parseProxyRoutes('/api=http://api:8080,/api/v2=http://v2:9000/base/,/billing=https://b.internal/v2');

const upstreamOf = (target: string) => {
  const m = matchProxyRoute(routes, target);
  return m.kind === 'match' ? `${m.origin}${m.upstreamPath}` : m.kind;
};

describe('matchProxyRoute', () => {
  it.each([
    ['/api', 'http://api:8080/'],
    ['/api/', 'http://api:8080/'],
    ['/api/x/y?z=1&z=2', 'http://api:8080/x/y?z=1&z=2'],
    ['/api//x', 'http://api:8080/x'],
    ['/api/v2/items', 'http://v2:9000/base/items'],
    ['/api/v2', 'http://v2:9000/base'],
    ['/api/v20', 'http://api:8080/v20'],
    ['/billing/invoices/7', 'https://b.internal/v2/invoices/7'],
    ['/billing?x=%2F', 'https://b.internal/v2?x=%2F'],
    ['/api/a%20b', 'http://api:8080/a%20b'],
  ])('maps %s to %s', (target, expected) => {
    expect(upstreamOf(target)).toBe(expected);
  });

  it.each(['/apiary', '/ap', '/', '/auth/me', '/API/x'])('does not route %s', (target) => {
    expect(upstreamOf(target)).toBe('none');
  });

  it.each([
    '/api/..',
    '/api/../secret',
    '/api/x/../../secret',
    '/api/%2e%2e/secret',
    '/api/%2E%2e/secret',
    '/api/.%2e/secret',
    '/api/%252e%252e/secret',
    '/api/x%2F..%2Fsecret',
    '/api/x%5c..%5csecret',
    '/api/x\\..\\secret',
    '/api/./x',
    '/api/%00',
    '/api/..;/secret',
    '/api/x/..;jsessionid=1/secret',
    '/api/%2e%2e%3b/secret',
  ])('refuses %s as a path escape', (target) => {
    expect(upstreamOf(target)).toBe('invalid');
  });
});
