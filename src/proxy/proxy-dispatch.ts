import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Config, ProxyRoute } from '../config/config.js';
import { UnauthenticatedError } from '../errors.js';
import type { PendingError } from '../http/error-middleware.js';
import type { GatewayState } from '../http/gateway-state.js';
import { requestState } from '../http/request-context.js';
import type { SessionAccess } from '../http/session-access.js';
import type { AccessLog } from '../ops/access-log.js';
import { answeredStatus } from '../ops/answered-status.js';
import type { HttpRecorder, RouteCounter } from '../ops/http-metrics.js';
import type { TallyHistogramChild } from '../ops/tally-metrics.js';
import { requestIdFrom } from '../request-id.js';
import type { OwnHeaders } from './upstream-call.js';
import type { ProxySteps } from './proxy-middleware.js';
import { matchProxyRoute } from './proxy-path.js';
import type { SessionSource } from './route-policy.js';

export interface ProxyDispatchDeps {
  config: Config;
  /** The proxy's steps, the same the Koa middleware runs (proxy-middleware.ts). */
  steps: ProxySteps;
  sessions: SessionAccess;
  logger: Logger;
  accessLog: AccessLog;
  /** Absent when metrics are off (unit tests). */
  recorder?: HttpRecorder | undefined;
  /** securityHeaderList(): what every answer of ours carries unless the upstream sends its own. */
  securityHeaders: readonly (readonly [string, string])[];
  /** errorMiddleware's rendering for a request Koa never saw (createErrorResponder). */
  respondWithError: (req: IncomingMessage, res: ServerResponse, pending: PendingError) => void;
}

/**
 * The standalone gateway's request listener takes proxied requests here,
 * before Koa: `dispatch(req, res)` returns false for every other request
 * (gateway.ts hands those to app.callback()). Proxied requests are most of the
 * traffic, and Koa's context, cookies module, per-request onFinished listeners
 * and middleware promise chain cost more than the rest of the gateway's work
 * on a session cache hit (docs/benchmarks.md).
 *
 * Seen from outside it is the Koa chain (app.ts) for these requests: the same
 * request id, security headers, guards, session lookup, refresh, route
 * policies and error answers (each the one implementation: ProxySteps and
 * errorMiddleware), the same metrics and access line, a 499 for a client that
 * left. Library mode (createBff's middleware) keeps the Koa path. A session
 * cache hit whose token needs no refresh is forwarded at once (peekByCookie,
 * accessNow); anything else takes the proxy steps' promise path.
 */
export function createProxyDispatch(deps: ProxyDispatchDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { config, steps, sessions, logger, accessLog, recorder, respondWithError } = deps;
  const routes = config.proxy.routes;
  const metered = new Map<ProxyRoute, { counter: RouteCounter; duration: TallyHistogramChild }>(
    recorder ? routes.map((r) => [r, { counter: recorder.route(`proxy:${r.prefix}`), duration: recorder.proxyDuration(r.prefix) }]) : [],
  );
  const ownNames = ['X-Request-Id', ...deps.securityHeaders.map(([name]) => name)];
  const lowerNames = ownNames.map((name) => name.toLowerCase());
  const constantHeaders = deps.securityHeaders.flatMap(([name, value]) => [name, value]);

  return (req, res) => {
    const url = req.url ?? '/';
    // Koa reads the path with parseurl, which takes another parser for these (a fragment, odd spaces): leave
    // such requests to Koa rather than risk logging or metering a different path.
    if (UNUSUAL_TARGET.test(url)) return false;
    const match = matchProxyRoute(routes, url);
    if (match.kind === 'none') return false;

    const requestId = requestIdFrom(req.headers['x-request-id']);
    const state: GatewayState = requestState(requestId, logger);
    const own: OwnHeaders = { list: ['X-Request-Id', requestId, ...constantHeaders], lowerNames };
    const meter = metered.get(match.route);
    if (meter || accessLog.enabled()) {
      const started = performance.now();
      res.on('close', () => {
        const status = answeredStatus(res);
        const durationMs = performance.now() - started;
        if (meter) {
          meter.counter.count(req.method!, status);
          meter.duration.observe(durationMs / 1000);
        }
        if (accessLog.enabled()) {
          const q = url.indexOf('?');
          accessLog.record({ requestId, method: req.method!, path: q === -1 ? url : url.slice(0, q), status, durationMs, completed: res.writableFinished });
        }
      });
    }

    const fail = (error: unknown, clearCookie: boolean) => {
      // An answer of ours, with our headers (a proxied answer sends them in its writeHead instead).
      if (!res.headersSent) for (let i = 0; i < own.list.length; i += 2) res.setHeader(own.list[i]!, own.list[i + 1]!);
      respondWithError(req, res, { state, error, ...(clearCookie ? { beforeRender: (ctx) => sessions.clearCookie(ctx) } : {}) });
    };

    const refused = steps.guardError(match, req.headers);
    if (refused || match.kind !== 'match') {
      fail(refused, false); // guardError refuses every invalid path
      return true;
    }
    const cookie = sessions.cookieValue(req.headers.cookie);
    const policy = match.route.policy;
    // A session cache hit with a fresh token: forwarded without waiting on a promise of the session's.
    const cached = sessions.peekByCookie(cookie);
    const ready = cached === undefined ? undefined : steps.accessNow(policy, cached);
    if (ready) {
      steps.forward(req, res, requestId, match, ready, own).catch((err: unknown) => fail(err, false));
      return true;
    }
    const source: SessionSource = {
      load: () => sessions.loadByCookie(cookie),
      require: () =>
        sessions.loadByCookie(cookie).then((record) => {
          if (record === null) throw new UnauthenticatedError();
          return record;
        }),
    };
    steps
      .access(policy, source, () => state.log)
      .then(
        (access) => steps.forward(req, res, requestId, match, access, own).catch((err: unknown) => fail(err, false)),
        (err: unknown) => fail(err, steps.clearsCookie(err, policy, cookie !== undefined)),
      )
      .catch((err: unknown) => {
        // Rendering the error failed itself: nothing sensible can be sent any more.
        state.log.error({ err: (err as Error)?.message }, 'proxied request failed while answering an error');
        res.destroy();
      });
    return true;
  };
}

// What makes parseurl (Koa's ctx.path) fall back to url.parse: a fragment, whitespace, NBSP, BOM.
const UNUSUAL_TARGET = /[#\s\u00a0\ufeff]/;
