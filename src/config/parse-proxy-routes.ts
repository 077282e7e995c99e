import type { ProxyRoute } from './config.js';

/**
 * Parses `PROXY_ROUTES` (`/api=http://api:8080,/billing=https://b.internal/v2`).
 * Returns the routes longest prefix first, or the list of problems.
 */
export function parseProxyRoutes(raw: string | undefined): { routes: ProxyRoute[]; problems: string[] } {
  const routes: ProxyRoute[] = [];
  const problems: string[] = [];
  if (raw === undefined || raw.trim() === '') return { routes, problems };

  for (const entry of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = entry.indexOf('=');
    if (eq <= 0) {
      problems.push(`"${entry}" is not prefix=url`);
      continue;
    }
    const prefix = entry.slice(0, eq).trim().replace(/\/+$/, '');
    const targetText = entry.slice(eq + 1).trim();
    if (!prefix.startsWith('/') || prefix === '') {
      problems.push(`prefix "${entry.slice(0, eq)}" must start with / and not be / itself`);
      continue;
    }
    if (!/^\/[A-Za-z0-9._~!$&'()*+;:@/-]*$/.test(prefix) || prefix.includes('//') || /(^|\/)\.\.?(\/|$)/.test(prefix)) {
      problems.push(`prefix "${prefix}" has characters or segments a path prefix cannot have`);
      continue;
    }
    if (prefix === '/auth' || prefix.startsWith('/auth/')) {
      problems.push(`prefix "${prefix}" would shadow the gateway's own /auth routes`);
      continue;
    }
    if (routes.some((r) => r.prefix === prefix)) {
      problems.push(`prefix "${prefix}" is given twice`);
      continue;
    }
    let target: URL;
    try {
      target = new URL(targetText);
    } catch {
      problems.push(`target "${targetText}" of ${prefix} is not a URL`);
      continue;
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      problems.push(`target of ${prefix} must be http:// or https://`);
      continue;
    }
    if (target.search || target.hash || target.username || target.password) {
      problems.push(`target of ${prefix} must not carry a query, fragment or credentials`);
      continue;
    }
    routes.push({ prefix, target });
  }
  routes.sort((a, b) => b.prefix.length - a.prefix.length);
  return { routes, problems };
}
