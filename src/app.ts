import type { RouterParamContext } from '@koa/router';
import Koa, { type Middleware } from 'koa';
import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import type { Config } from './config/config.js';
import { NotFoundError } from './errors.js';
import { createAuthRoutes } from './http/auth-routes.js';
import { createBackchannelLogoutRoute } from './http/backchannel-logout-route.js';
import { createFrontchannelLogoutRoute } from './http/frontchannel-logout-route.js';
import { originGuard } from './http/csrf.js';
import { errorMiddleware } from './http/error-middleware.js';
import type { GatewayState } from './http/gateway-state.js';
import { requestContext } from './http/request-context.js';
import { securityHeaders } from './http/security-headers.js';
import { staticFiles } from './http/static-files.js';
import { createSessionAccess, type SessionAccess } from './http/session-access.js';
import { createSessionLayer, type SessionLayer } from './http/session-layer.js';
import { createSettingsRoutes } from './http/settings-routes.js';
import { createLogoutTokenVerifier } from './oidc/logout-token.js';
import type { OidcClient } from './oidc/oidc-client.js';
import { createSessionCookieCodec } from './session/session-cookie.js';
import type { SessionStore } from './session/session-store.js';
import { createAccessLog, type AccessLog } from './ops/access-log.js';
import { httpMetrics } from './ops/http-metrics.js';
import type { Metrics } from './ops/metrics.js';
import { createUpstream, type Upstream } from './proxy/forward-request.js';
import { forwardedCookieMatcher, gatewayCookieMatcher } from './proxy/gateway-cookies.js';
import { createProxySteps, proxyMiddleware, type ProxySteps } from './proxy/proxy-middleware.js';
import { createStoredRouteTokens, type RouteTokens } from './proxy/route-token.js';
import type { DpopProofs } from './proxy/dpop-proof.js';
import { createTokenRefresher, type TokenRefresher } from './proxy/token-refresher.js';

export interface AppDeps {
  config: Config;
  store: SessionStore;
  oidc: OidcClient;
  clock: Clock;
  logger: Logger;
  /** Absent in unit tests that do not care about metrics. */
  metrics?: Metrics;
  /** Upstream connection pools; the caller closes them at shutdown. */
  upstream?: Upstream;
  refresher?: TokenRefresher;
  /** Shared with the WebSocket proxy by gateway.ts; built here otherwise. */
  routeTokens?: RouteTokens;
  /** The access line writer (one per gateway: flushed at shutdown); built here otherwise. */
  accessLog?: AccessLog;
  /** DPoP proofs and the upstreams' nonces; shared with the WebSocket proxy like routeTokens. */
  dpopProofs?: DpopProofs;
}

/** The gateway's own routes as middleware, shared by the standalone app and library mode (create-bff.ts). */
export interface GatewayRoutes {
  /** error → request context → metrics → headers → origin → proxy → /auth routes (koa-session on those that use the session). */
  readonly chain: readonly GatewayMiddleware[];
  /** Cookie codec + store read: the live session of a proxied request (hot path, no koa-session). */
  readonly sessions: SessionAccess;
  /** koa-session over the same codec and store: /auth/* and a host app's own routes. */
  readonly sessionLayer: SessionLayer;
  readonly refresher: TokenRefresher;
  /** The proxy's steps, shared by the Koa middleware and the dispatch before Koa (proxy-dispatch.ts). */
  readonly proxySteps: ProxySteps;
  readonly accessLog: AccessLog;
}

/** Koa middleware that may be a router's (its context carries the router's params). */
export type GatewayMiddleware = Middleware<GatewayState, RouterParamContext<GatewayState>>;

/** The middleware order below is the architecture. */
export function createGatewayRoutes(deps: AppDeps): GatewayRoutes {
  const { config, store, oidc, clock, logger, metrics } = deps;
  const cookies = createSessionCookieCodec(config.session.secrets);
  const sessions = createSessionAccess({ config, store, cookies, clock });
  const sessionLayer = createSessionLayer({ config, store, sessions, clock });
  const auth = createAuthRoutes({ config, store, oidc, sessions, sessionLayer, cookies, clock, ...(metrics ? { metrics } : {}) });
  const verifyLogoutToken = createLogoutTokenVerifier({
    issuer: config.oidc.issuer,
    clientId: config.oidc.clientId,
    keys: oidc.keys,
    clock,
    markOnce: (key, ttlMs) => store.markOnce(key, ttlMs),
    clearMark: (key) => store.clearMark(key),
  });
  const backchannel = createBackchannelLogoutRoute({ store, verifyLogoutToken, ...(metrics ? { metrics } : {}) });
  const settings = createSettingsRoutes({ store, sessions, sessionLayer, defaults: config.session.settingsDefaults });
  const refresher =
    deps.refresher ??
    createTokenRefresher({
      config,
      store,
      oidc,
      clock,
      logger,
      onOutcome: (outcome) => metrics?.refreshes.inc({ outcome }),
      onLockWait: (seconds) => metrics?.refreshLockWait.observe(seconds),
    });
  const upstream = deps.upstream ?? createUpstream({ headersTimeoutMs: config.proxy.timeoutMs });
  const isGatewayCookie = gatewayCookieMatcher(config.session.cookieName);
  // Back-channel logout comes from the provider; proxied routes check X-CSRF before Origin.
  const selfGuarded = (path: string) =>
    path === '/auth/backchannel-logout' || config.proxy.routes.some((r) => path === r.prefix || path.startsWith(`${r.prefix}/`));

  const routeTokens = deps.routeTokens ?? createStoredRouteTokens({ config, store, oidc, clock, metrics });
  const accessLog = deps.accessLog ?? createAccessLog(logger);
  const proxyDeps = {
    config,
    sessions,
    refresher,
    upstream,
    isGatewayCookie,
    isForwardedCookie: forwardedCookieMatcher(config.proxy.forwardCookies),
    routeTokens,
    clock,
    ...(deps.dpopProofs ? { dpopProofs: deps.dpopProofs } : {}),
  };
  const proxySteps = createProxySteps(proxyDeps);
  const chain: GatewayMiddleware[] = [
    errorMiddleware({ publicOrigin: config.publicUrl.origin }),
    requestContext(logger, accessLog),
    ...(metrics ? [httpMetrics(metrics, config.proxy.routes)] : []),
    securityHeaders({ hsts: config.secureCookies }),
    originGuard(config.publicUrl.origin, selfGuarded),
    // Proxied routes first: they are most of the traffic, never under /auth, and need no router dispatch or koa-session.
    proxyMiddleware(proxyDeps, proxySteps),
    auth.routes(),
    backchannel.routes(),
    createFrontchannelLogoutRoute({ store, issuer: config.oidc.issuer, ...(metrics ? { metrics } : {}) }).routes(),
    settings.routes(),
  ];
  return { chain, sessions, sessionLayer, refresher, proxySteps, accessLog };
}

/** Answers whatever no route took: 404 in the contract's JSON shape. */
export const notFound: Middleware = () => {
  throw new NotFoundError();
};

/** The public listener (PORT) of the standalone gateway: the gateway's routes, then the SPA, then 404. */
export function createApp(deps: AppDeps, routes: GatewayRoutes = createGatewayRoutes(deps)): Koa<GatewayState> {
  const { config } = deps;
  const app = new Koa<GatewayState>({ proxy: config.trustProxy, maxIpsCount: 1 });
  for (const middleware of routes.chain) app.use(middleware);
  if (config.staticDir) app.use(staticFiles(config.staticDir));
  app.use(notFound);

  // Errors are rendered by errorMiddleware; Koa's default handler would print them to stderr.
  app.silent = true;
  return app;
}
