import type { Context, Middleware, Next } from 'koa';
import type { ProxyRoute } from '../config/config.js';
import type { Metrics } from './metrics.js';

/**
 * Counts each answer by route *pattern* (router path or proxy prefix), never by
 * raw path: label values must stay few whatever URLs clients send.
 */
export function httpMetrics(metrics: Metrics, routes: readonly ProxyRoute[]): Middleware {
  return async (ctx: Context, next: Next) => {
    const started = process.hrtime.bigint();
    const proxyRoute = routes.find((r) => ctx.path === r.prefix || ctx.path.startsWith(`${r.prefix}/`));
    ctx.res.once('close', () => {
      const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
      const route = proxyRoute ? `proxy:${proxyRoute.prefix}` : typeof matched === 'string' ? matched : 'other';
      metrics.httpRequests.inc({ route, method: ctx.method, status: String(ctx.res.statusCode) });
      if (proxyRoute) {
        metrics.proxyDuration.observe({ route: proxyRoute.prefix }, Number(process.hrtime.bigint() - started) / 1e9);
      }
    });
    await next();
  };
}
