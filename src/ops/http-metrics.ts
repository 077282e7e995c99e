import type { Context, Middleware, Next } from 'koa';
import type { ProxyRoute } from '../config/config.js';
import { answeredStatus } from './answered-status.js';
import type { Metrics } from './metrics.js';

/**
 * Counts each answer by route *pattern* (router path or proxy prefix), never by
 * raw path: label values must stay few whatever URLs clients send. A request
 * closed before any answer was sent counts as 499 (answered-status.ts).
 */
export function httpMetrics(metrics: Metrics, routes: readonly ProxyRoute[]): Middleware {
  // Labelled children looked up once per label set: prom-client would otherwise
  // hash the label object on every request. Methods are the parser's known set,
  // statuses a few dozen, routes the configured ones: the maps stay small.
  const counters = new Map<string, { inc(): void }>();
  const counter = (route: string, method: string, status: number) => {
    const key = `${route} ${method} ${status}`;
    let child = counters.get(key);
    if (!child) {
      child = metrics.httpRequests.labels({ route, method, status: String(status) });
      counters.set(key, child);
    }
    return child;
  };
  const durations = new Map(routes.map((r) => [r.prefix, metrics.proxyDuration.labels({ route: r.prefix })]));
  const prefixes = routes.map((r) => ({ route: r, withSlash: `${r.prefix}/` }));

  // Not async: a plain `return next()` adds no promise per request.
  return (ctx: Context, next: Next) => {
    const started = process.hrtime.bigint();
    const path = ctx.path;
    const proxyRoute = prefixes.find((p) => path === p.route.prefix || path.startsWith(p.withSlash))?.route;
    ctx.res.once('close', () => {
      const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
      const route = proxyRoute ? `proxy:${proxyRoute.prefix}` : typeof matched === 'string' ? matched : 'other';
      counter(route, ctx.method, answeredStatus(ctx.res)).inc();
      if (proxyRoute) durations.get(proxyRoute.prefix)!.observe(Number(process.hrtime.bigint() - started) / 1e9);
    });
    return next();
  };
}
