import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createApp } from './app.js';
import { systemClock, type Clock } from './clock.js';
import type { Config } from './config/config.js';
import { answerClientError } from './http/client-error.js';
import { createOidcClient, type OidcClient } from './oidc/oidc-client.js';
import { createAdminApp } from './ops/admin-app.js';
import { createAdminSessionRoutes } from './ops/admin-sessions.js';
import { instrumentStore } from './ops/instrument-store.js';
import { createMetrics } from './ops/metrics.js';
import type { Tracing } from './ops/tracing.js';
import { createUpstream } from './proxy/forward-request.js';
import { createStoredRouteTokens } from './proxy/route-token.js';
import { createTokenRefresher } from './proxy/token-refresher.js';
import { createWebSocketProxy } from './proxy/websocket-proxy.js';
import { createStoreFromConfig } from './session/create-store.js';
import type { SessionStore } from './session/session-store.js';

export interface RunningGateway {
  /** Base URL of the public listener as bound (not PUBLIC_URL). */
  readonly url: string;
  readonly adminUrl: string;
  readonly store: SessionStore;
  readonly oidc: OidcClient;
  /** Graceful stop: readiness 503, no new connections, in-flight requests finish within SHUTDOWN_TIMEOUT_MS, store closed. */
  close(): Promise<void>;
}

export interface StartGatewayDeps {
  logger: Logger;
  clock?: Clock;
  /** Overrides the store built from config (tests share one between instances). */
  store?: SessionStore;
  oidc?: OidcClient;
  /** Listen address; loopback by default in tests, all interfaces in containers. */
  host?: string;
  /** Present only when tracing is on: its spans wrap the store, the provider client and the refresher. */
  tracing?: Tracing;
}

/**
 * Builds and starts everything a config describes: store, OIDC client, the
 * public and admin listeners. Used by main.ts, the demo, tests and the bench.
 */
export async function startGateway(config: Config, deps: StartGatewayDeps): Promise<RunningGateway> {
  const { logger } = deps;
  const clock = deps.clock ?? systemClock;
  const baseStore = deps.store ?? createStoreFromConfig(config, { logger, clock });
  const metrics = createMetrics({ store: baseStore });
  const { tracing } = deps;
  const instrumented = instrumentStore(baseStore, metrics);
  const store = tracing ? tracing.traceStore(instrumented) : instrumented;
  const baseOidc = deps.oidc ?? createOidcClient({ config: config.oidc, logger });
  const oidc = tracing ? tracing.traceOidc(baseOidc) : baseOidc;
  tracing?.nameRoutes(config.proxy.routes.map((route) => route.prefix));
  let shuttingDown = false;

  const upstream = createUpstream({ headersTimeoutMs: config.proxy.timeoutMs });
  // One refresher for HTTP and WebSocket requests: its single-flight spans both.
  const baseRefresher = createTokenRefresher({
    config,
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
  const routeTokens = createStoredRouteTokens({ config, store, oidc, clock, metrics });
  const app = createApp({ config, store, oidc, clock, logger, upstream, metrics, refresher, routeTokens });
  const callback = app.callback();
  const websockets = createWebSocketProxy({ config, store, refresher, routeTokens, clock, logger, plainRequest: callback });
  const adminSessions = createAdminSessionRoutes({ store, oidc, logger, metrics, ...(config.adminToken ? { adminToken: config.adminToken } : {}) });
  const adminApp = createAdminApp({ store, oidc, logger, metrics, isShuttingDown: () => shuttingDown, routers: [adminSessions] });

  // Once shutting down, every answer says Connection: close, so clients and balancers stop reusing the
  // connection; answers already under way end on a connection drain() closes as soon as it is idle.
  // (Tracking every in-flight response to flip those too cost ~25 µs of CPU per request: measured.)
  const server = createServer((req, res) => {
    if (shuttingDown) res.shouldKeepAlive = false;
    callback(req, res);
  });
  server.on('upgrade', websockets.handleUpgrade);
  server.on('clientError', answerClientError);
  // Load balancers (AWS ALB, ingress-nginx) keep idle upstream connections for 60 s; Node's 5 s default
  // would close them under the balancer's feet and show up as sporadic 502s. Headers must outlast it.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  // Proxied streams (downloads, long polls) may stay open as long as they like.
  server.requestTimeout = 0;
  const adminServer = createServer(adminApp.callback());
  adminServer.on('clientError', answerClientError);
  const host = deps.host ?? '127.0.0.1';
  await listen(server, config.port, host);
  await listen(adminServer, config.adminPort, host);
  const url = `http://${formatHost(server)}`;
  const adminUrl = `http://${formatHost(adminServer)}`;
  logger.info({ url, admin_url: adminUrl, public_url: config.publicUrl.href, store: store.kind }, 'gateway listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    adminUrl,
    store,
    oidc,
    close() {
      closing ??= (async () => {
        shuttingDown = true;
        // Upgraded sockets are no longer the http server's to drain: close them with 1001 alongside.
        await Promise.all([drain(server, config.shutdownTimeoutMs), websockets.close()]);
        await new Promise<void>((resolve) => {
          adminServer.close(() => resolve());
          adminServer.closeAllConnections();
        });
        oidc.close();
        await upstream.close();
        await store.close();
        logger.info({}, 'gateway stopped');
      })();
      return closing;
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Stops accepting, lets in-flight requests finish, then cuts whatever is left at the deadline. */
async function drain(server: Server, timeoutMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // A connection whose answer began before shutdown turns idle when it ends: close it then, not at the deadline.
  server.closeIdleConnections();
  const sweep = setInterval(() => server.closeIdleConnections(), 100);
  const deadline = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
  await Promise.race([closed, deadline]);
  clearInterval(sweep);
  server.closeAllConnections();
  await closed;
}

function formatHost(server: Server): string {
  const { address, port } = server.address() as AddressInfo;
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
