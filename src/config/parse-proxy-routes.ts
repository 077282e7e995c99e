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
    const prefix = normalisePrefix(entry.slice(0, eq));
    const prefixProblem = checkRoutePrefix(prefix, entry.slice(0, eq));
    if (prefixProblem) {
      problems.push(prefixProblem);
      continue;
    }
    if (routes.some((r) => r.prefix === prefix)) {
      problems.push(`prefix "${prefix}" is given twice`);
      continue;
    }
    const target = parseRouteTarget(prefix, entry.slice(eq + 1).trim());
    if (typeof target === 'string') {
      problems.push(target);
      continue;
    }
    routes.push({ prefix, target });
  }
  sortLongestPrefixFirst(routes);
  return { routes, problems };
}

export function normalisePrefix(text: string): string {
  return text.trim().replace(/\/+$/, '');
}

/** Why `prefix` (normalised) cannot be a route prefix, or undefined when it can. */
export function checkRoutePrefix(prefix: string, asWritten: string = prefix): string | undefined {
  if (!prefix.startsWith('/') || prefix === '') return `prefix "${asWritten}" must start with / and not be / itself`;
  if (!/^\/[A-Za-z0-9._~!$&'()*+;:@/-]*$/.test(prefix) || prefix.includes('//') || /(^|\/)\.\.?(\/|$)/.test(prefix)) {
    return `prefix "${prefix}" has characters or segments a path prefix cannot have`;
  }
  if (prefix === '/auth' || prefix.startsWith('/auth/')) return `prefix "${prefix}" would shadow the gateway's own /auth routes`;
  return undefined;
}

/** The target URL of a route, or the problem with it. */
export function parseRouteTarget(prefix: string, targetText: string): URL | string {
  let target: URL;
  try {
    target = new URL(targetText);
  } catch {
    return `target "${targetText}" of ${prefix} is not a URL`;
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') return `target of ${prefix} must be http:// or https://`;
  if (target.search || target.hash || target.username || target.password) {
    return `target of ${prefix} must not carry a query, fragment or credentials`;
  }
  return target;
}

/** matchProxyRoute takes the first match: longest prefix first makes it the longest match. */
export function sortLongestPrefixFirst(routes: ProxyRoute[]): void {
  routes.sort((a, b) => b.prefix.length - a.prefix.length);
}
