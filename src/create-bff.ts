import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type Koa from 'koa';
import type { Context, Middleware, Next } from 'koa';
import compose from 'koa-compose';
import type { Logger } from 'pino';
import { createApp, createGatewayRoutes, notFound } from './app.js';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config/config.js';
import { configFromObject, type BffConfigInput } from './config/config-from-object.js';
import { StoreUnavailableError, UnauthenticatedError } from './errors.js';
import type { GatewayState } from './http/gateway-state.js';
import { createErrorResponder, toGatewayError } from './http/error-middleware.js';
import { securityHeaderList } from './http/security-headers.js';
import { sessionOf } from './http/session-view.js';
import { createOidcClient, type OidcClient } from './oidc/oidc-client.js';
import { instrumentStore } from './ops/instrument-store.js';
import { createAccessLog } from './ops/access-log.js';
import { httpRecorder } from './ops/http-metrics.js';
import { createLogger } from './ops/logger.js';
import { createMetrics, type Metrics } from './ops/metrics.js';
import type { Tracing } from './ops/tracing-api.js';
import { createUpstream } from './proxy/forward-request.js';
import { createProxyDispatch } from './proxy/proxy-dispatch.js';
import { matchProxyRoute } from './proxy/proxy-path.js';
import { createStoredRouteTokens } from './proxy/route-token.js';
import { createTokenRefresher } from './proxy/token-refresher.js';
import { createDpopProofs } from './proxy/dpop-proof.js';
import { createWebSocketProxy, type WebSocketProxy } from './proxy/websocket-proxy.js';
import { createStoreFromConfig } from './session/create-store.js';
import type { SessionStore } from './session/session-store.js';
import { StoreError } from './session/store-error.js';

/** What a host app's routes find on `ctx.state.bff`. */
export interface BffRequest {
  /**
   * An access token good for at least TOKEN_REFRESH_SKEW_SECONDS, refreshed
   * when due (single-flight, store lock: the proxy's refresher). Rejects with
   * a 401 error when the request has no session (or the provider ended it),
   * 503 when the provider or the store is unavailable.
   */
  accessToken(): Promise<string>;
}

/** The state a host app's routes see (`new Koa<BffState>()`). */
export interface BffState {
  bff: BffRequest;
}

export interface CreateBffDeps {
  /** Defaults to JSON logs on stdout at LOG_LEVEL. */
  logger?: Logger;
  clock?: Clock;
  /** Overrides the store built from config (tests share one between instances). */
  store?: SessionStore;
  oidc?: OidcClient;
  /** Present only when tracing is on (src/ops/otel-register.ts): its spans wrap the store, the provider client and the refresher. */
  tracing?: Tracing;
}

/** The gateway inside a host Koa 3 app. */
export interface Bff {
  /**
   * `app.use(bff.middleware)`: answers /auth/* and the PROXY_ROUTES prefixes
   * itself; on every other path it loads `ctx.session` (koa-session) and
   * `ctx.state.bff`, then calls the host's next middleware.
   */
  readonly middleware: Middleware;
  /**
   * For the http server's `upgrade` event: proxies WebSockets under a
   * PROXY_ROUTES prefix and returns true; returns false (socket untouched)
   * for any other path, so the host may handle it.
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Closes open WebSockets (1001), the provider client, upstream pools and the store. */
  close(): Promise<void>;
}

/** createBff's whole result: what the standalone gateway (gateway.ts) needs besides the host-app surface. */
export interface BffRuntime extends Bff {
  readonly config: Config;
  readonly logger: Logger;
  readonly store: SessionStore;
  readonly oidc: OidcClient;
  readonly metrics: Metrics;
  /** The standalone public app: the gateway's routes, STATIC_DIR, then 404. */
  readonly app: Koa<GatewayState>;
  readonly websockets: WebSocketProxy;
  /**
   * For the standalone gateway's request listener: takes a proxied request (true) before Koa, with the same
   * steps, headers, metrics, access line and error answers; false for anything else (app.callback() answers).
   */
  readonly dispatch: (req: IncomingMessage, res: ServerResponse) => boolean;
}

/**
 * The one composition root: store, OIDC client, refresher, routes, WebSocket
 * proxy. main.ts, the demo, the tests and the bench reach it through
 * startGateway; host apps call it directly.
 *
 * `config` is either the environment's variables as an object (validated by
 * loadConfig: the same errors and defaults; ConfigError lists every problem)
 * or a Config already loaded.
 */
export function createBff(config: BffConfigInput | Config, deps: CreateBffDeps = {}): BffRuntime {
  const loaded = isLoadedConfig(config) ? config : configFromObject(config);
  const logger = deps.logger ?? createLogger({ level: loaded.logLevel });
  // A Config handed in was loaded by a caller that reports its own warnings (main.ts).
  if (!isLoadedConfig(config)) for (const warning of loaded.warnings) logger.warn({}, warning);
  const clock = deps.clock ?? systemClock;
  const baseStore = deps.store ?? createStoreFromConfig(loaded, { logger, clock });
  const metrics = createMetrics({ store: baseStore });
  const { tracing } = deps;
  const instrumented = instrumentStore(baseStore, metrics);
  const store = tracing ? tracing.traceStore(instrumented) : instrumented;
  const baseOidc = deps.oidc ?? createOidcClient({ config: loaded.oidc, logger });
  const oidc = tracing ? tracing.traceOidc(baseOidc) : baseOidc;
  tracing?.nameRoutes(loaded.proxy.routes.map((route) => route.prefix));

  const upstream = createUpstream({ headersTimeoutMs: loaded.proxy.timeoutMs });
  // One refresher for HTTP, WebSocket and host-app requests: its single-flight spans all three.
  const baseRefresher = createTokenRefresher({
    config: loaded,
    store,
    oidc,
    clock,
    logger,
    onOutcome: (outcome) => {
      metrics.refreshes.inc({ outcome });
      // The provider ended the grant, so the gateway ended the session: a logout of its own kind.
      if (outcome === 'invalid_grant') metrics.logouts.inc({ kind: 'invalid_grant' });
      tracing?.onRefreshOutcome(outcome);
    },
    onLockWait: (seconds) => {
      metrics.refreshLockWait.observe(seconds);
      tracing?.onLockWait(seconds);
    },
  });
  const refresher = tracing ? tracing.traceRefresher(baseRefresher) : baseRefresher;
  // One set of route tokens for HTTP and WebSocket requests, like the refresher.
  const routeTokens = createStoredRouteTokens({ config: loaded, store, oidc, clock, metrics });
  const accessLog = createAccessLog(logger);
  const dpopProofs = createDpopProofs();
  const appDeps = { config: loaded, store, oidc, clock, logger, upstream, metrics, refresher, routeTokens, accessLog, dpopProofs };
  const routes = createGatewayRoutes(appDeps);
  const app = createApp(appDeps, routes);
  const proxiedSockets = createWebSocketProxy({ config: loaded, store, refresher, routeTokens, dpopProofs, clock, logger, plainRequest: app.callback() });
  const websockets: WebSocketProxy = tracing
    ? {
        handleUpgrade: tracing.traceUpgrade(proxiedSockets.handleUpgrade),
        get size() {
          return proxiedSockets.size;
        },
        close: () => proxiedSockets.close(),
      }
    : proxiedSockets;

  const { sessions, sessionLayer } = routes;
  const dispatch = createProxyDispatch({
    config: loaded,
    steps: routes.proxySteps,
    sessions,
    logger,
    accessLog,
    recorder: httpRecorder(metrics),
    securityHeaders: securityHeaderList({ hsts: loaded.secureCookies }),
    respondWithError: createErrorResponder({ trustProxy: loaded.trustProxy, publicOrigin: loaded.publicUrl.origin }),
  });
  const ownRoutes = compose([...routes.chain, notFound] as Middleware[]);
  const isOwnPath = (path: string) =>
    path === '/auth' || path.startsWith('/auth/') || matchProxyRoute(loaded.proxy.routes, path).kind !== 'none';

  const requestOf = (ctx: Context): BffRequest => ({
    async accessToken() {
      const record = sessionLayer.live(ctx);
      if (!record) throw new UnauthenticatedError();
      try {
        const fresh = await refresher.ensureFresh(record, () => logger);
        sessionLayer.setLive(ctx, fresh);
        return fresh.tokens.access_token;
      } catch (err) {
        if (err instanceof UnauthenticatedError) sessions.clearCookie(ctx);
        throw toGatewayError(err);
      }
    },
  });

  // A host route: koa-session loads ctx.session (a store read only when a validly signed cookie names a session).
  const hostRoute = async (ctx: Context, next: Next) => {
    ctx.state['bff'] = requestOf(ctx);
    try {
      await sessionLayer.middlewareFor(ctx.app)(ctx, next);
    } catch (err) {
      // The host's error handling sees a status: the store being down is a 503, not a crash.
      throw err instanceof StoreError ? new StoreUnavailableError(err) : err;
    }
  };

  let closing: Promise<void> | undefined;
  return {
    config: loaded,
    logger,
    store,
    oidc,
    metrics,
    app,
    websockets,
    dispatch,
    middleware: (ctx, next) => (isOwnPath(ctx.path) ? ownRoutes(ctx) : hostRoute(ctx, next)),
    upgrade(req, socket, head) {
      if (matchProxyRoute(loaded.proxy.routes, req.url ?? '/').kind === 'none') return false;
      websockets.handleUpgrade(req, socket, head);
      return true;
    },
    close() {
      closing ??= (async () => {
        await websockets.close();
        oidc.close();
        await upstream.close();
        await store.close();
        accessLog.close();
      })();
      return closing;
    },
  };
}

/** A host route that needs a login: 401 (the gateway's JSON error) without a live session. */
export const requiresAuth: Middleware = (ctx, next) => {
  if (!sessionOf(ctx)) throw new UnauthenticatedError();
  return next();
};

function isLoadedConfig(config: BffConfigInput | Config): config is Config {
  return (config as Config).publicUrl instanceof URL;
}
