import type { Context, Middleware, Next } from 'koa';
import { performance } from 'node:perf_hooks';
import type { ProxyRoute } from '../config/config.js';
import { answeredStatus } from './answered-status.js';
import type { Metrics } from './metrics.js';
import type { TallyCounterChild, TallyHistogramChild } from './tally-metrics.js';

/** bff_http_requests_total for one route label: children resolved once per method and status. */
export interface RouteCounter {
  count(method: string, status: number): void;
}

/** The per-request metrics of the public port, shared by the Koa chain and the proxy's own dispatch (gateway.ts). */
export interface HttpRecorder {
  /** Resolve once per route label (a proxy route's `proxy:<prefix>` at start-up). */
  route(label: string): RouteCounter;
  /** bff_proxy_request_duration_seconds of one proxy prefix. */
  proxyDuration(prefix: string): TallyHistogramChild;
}

const recorders = new WeakMap<Metrics, HttpRecorder>();

/** One recorder per Metrics, so both request paths count into the same children. */
export function httpRecorder(metrics: Metrics): HttpRecorder {
  let recorder = recorders.get(metrics);
  if (recorder) return recorder;
  const routes = new Map<string, RouteCounter>();
  recorder = {
    route(label) {
      let counter = routes.get(label);
      if (!counter) {
        counter = routeCounter(metrics, label);
        routes.set(label, counter);
      }
      return counter;
    },
    proxyDuration: (prefix) => metrics.proxyDuration.child(prefix),
  };
  recorders.set(metrics, recorder);
  return recorder;
}

function routeCounter(metrics: Metrics, route: string): RouteCounter {
  // Methods are the parser's known set and statuses 100–599: both stay small, and a status indexes an array.
  const byMethod = new Map<string, (TallyCounterChild | undefined)[]>();
  return {
    count(method, status) {
      let byStatus = byMethod.get(method);
      if (!byStatus) {
        byStatus = [];
        byMethod.set(method, byStatus);
      }
      let child = byStatus[status];
      if (!child) {
        child = metrics.httpRequests.child({ route, method, status: String(status) });
        byStatus[status] = child;
      }
      child.inc();
    },
  };
}

/**
 * Counts each answer by route *pattern* (router path or proxy prefix), never by
 * raw path: label values must stay few whatever URLs clients send. A request
 * closed before any answer was sent counts as 499 (answered-status.ts).
 */
export function httpMetrics(metrics: Metrics, routes: readonly ProxyRoute[]): Middleware {
  const recorder = httpRecorder(metrics);
  const prefixes = routes.map((r) => ({
    withSlash: `${r.prefix}/`,
    prefix: r.prefix,
    counter: recorder.route(`proxy:${r.prefix}`),
    duration: recorder.proxyDuration(r.prefix),
  }));

  // Not async: a plain `return next()` adds no promise per request.
  return (ctx: Context, next: Next) => {
    const started = performance.now();
    const path = ctx.path;
    const proxyRoute = prefixes.find((p) => path === p.prefix || path.startsWith(p.withSlash));
    ctx.res.once('close', () => {
      const status = answeredStatus(ctx.res);
      if (proxyRoute) {
        proxyRoute.counter.count(ctx.method, status);
        proxyRoute.duration.observe((performance.now() - started) / 1000);
        return;
      }
      const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
      recorder.route(typeof matched === 'string' ? matched : 'other').count(ctx.method, status);
    });
    return next();
  };
}
