import Koa from 'koa';
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
import { createSessionAccess } from './http/session-access.js';
import { createSettingsRoutes } from './http/settings-routes.js';
import { createLogoutTokenVerifier } from './oidc/logout-token.js';
import type { OidcClient } from './oidc/oidc-client.js';
import { createSessionCookieCodec } from './session/session-cookie.js';
import type { SessionStore } from './session/session-store.js';
import { httpMetrics } from './ops/http-metrics.js';
import type { Metrics } from './ops/metrics.js';
import { createUpstream, type Upstream } from './proxy/forward-request.js';
import { forwardedCookieMatcher, gatewayCookieMatcher } from './proxy/gateway-cookies.js';
import { proxyMiddleware } from './proxy/proxy-middleware.js';
import { createStoredRouteTokens, type RouteTokens } from './proxy/route-token.js';
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
}

/** The public listener (PORT). The order of `use` below is the architecture. */
export function createApp(deps: AppDeps): Koa<GatewayState> {
  const { config, store, oidc, clock, logger } = deps;
  const app = new Koa<GatewayState>({ proxy: config.trustProxy, maxIpsCount: 1 });
  const cookies = createSessionCookieCodec(config.session.secrets);
  const sessions = createSessionAccess({ config, store, cookies, clock });
  const auth = createAuthRoutes({ config, store, oidc, sessions, cookies, clock, ...(deps.metrics ? { metrics: deps.metrics } : {}) });
  const { metrics } = deps;
  const verifyLogoutToken = createLogoutTokenVerifier({
    issuer: config.oidc.issuer,
    clientId: config.oidc.clientId,
    keys: oidc.keys,
    clock,
    markOnce: (key, ttlMs) => store.markOnce(key, ttlMs),
    clearMark: (key) => store.clearMark(key),
  });
  const backchannel = createBackchannelLogoutRoute({ store, verifyLogoutToken, ...(metrics ? { metrics } : {}) });
  const settings = createSettingsRoutes({ store, sessions, defaults: config.session.settingsDefaults });
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

  app.use(errorMiddleware());
  app.use(requestContext(logger));
  if (metrics) app.use(httpMetrics(metrics, config.proxy.routes));
  app.use(securityHeaders({ hsts: config.secureCookies }));
  app.use(originGuard(config.publicUrl.origin, selfGuarded));
  // Proxied routes first: they are most of the traffic, never under /auth, and need no router dispatch.
  const routeTokens = deps.routeTokens ?? createStoredRouteTokens({ config, store, oidc, clock, metrics });
  app.use(
    proxyMiddleware({ config, sessions, refresher, upstream, isGatewayCookie, isForwardedCookie: forwardedCookieMatcher(config.proxy.forwardCookies), routeTokens }),
  );
  app.use(auth.routes());
  app.use(backchannel.routes());
  app.use(createFrontchannelLogoutRoute({ store, issuer: config.oidc.issuer, ...(metrics ? { metrics } : {}) }).routes());
  app.use(settings.routes());
  if (config.staticDir) app.use(staticFiles(config.staticDir));
  app.use(() => {
    throw new NotFoundError();
  });

  // Errors are rendered by errorMiddleware; Koa's default handler would print them to stderr.
  app.silent = true;
  return app;
}
