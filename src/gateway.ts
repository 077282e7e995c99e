import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import type { Config } from './config/config.js';
import { createBff } from './create-bff.js';
import { answerClientError } from './http/client-error.js';
import type { OidcClient } from './oidc/oidc-client.js';
import { createAdminApp } from './ops/admin-app.js';
import { createAdminSessionRoutes } from './ops/admin-sessions.js';
import type { Tracing } from './ops/tracing-api.js';
import type { SessionStore } from './session/session-store.js';

export interface RunningGateway {
  /** Base URL of the public listener as bound (not PUBLIC_URL). */
  readonly url: string;
  readonly adminUrl: string;
  readonly store: SessionStore;
  readonly oidc: OidcClient;
  /**
   * Graceful stop: readiness 503 at once; still serving (Connection: close) for SHUTDOWN_DELAY_MS; then no new
   * connections, in-flight requests finish within SHUTDOWN_TIMEOUT_MS, WebSockets closed with 1001, store closed.
   */
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
 * The standalone gateway: createBff (the one composition root) behind its own
 * public and admin listeners. Used by main.ts, the demo, tests and the bench.
 */
export async function startGateway(config: Config, deps: StartGatewayDeps): Promise<RunningGateway> {
  const { logger } = deps;
  const bff = createBff(config, {
    logger,
    ...(deps.clock ? { clock: deps.clock } : {}),
    ...(deps.store ? { store: deps.store } : {}),
    ...(deps.oidc ? { oidc: deps.oidc } : {}),
    ...(deps.tracing ? { tracing: deps.tracing } : {}),
  });
  const { store, oidc, metrics, websockets } = bff;
  let shuttingDown = false;

  const callback = bff.app.callback();
  const adminSessions = createAdminSessionRoutes({ store, oidc, logger, metrics, ...(config.adminToken ? { adminToken: config.adminToken } : {}) });
  const adminApp = createAdminApp({ store, oidc, logger, metrics, isShuttingDown: () => shuttingDown, routers: [adminSessions] });

  // Once shutting down, every answer says Connection: close, so clients and balancers stop reusing the
  // connection; answers already under way end on a connection drain() closes as soon as it is idle.
  // (Tracking every in-flight response to flip those too cost ~25 µs of CPU per request: measured.)
  // Proxied requests are taken before Koa (proxy-dispatch.ts: the same steps and answers, less work per request).
  const { dispatch } = bff;
  const server = createServer((req, res) => {
    if (shuttingDown) res.shouldKeepAlive = false;
    if (!dispatch(req, res)) void callback(req, res);
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
        // A balancer that health-checks /readyz (now 503) needs a few checks to take this replica out; until then it
        // keeps sending requests, and closing connections under it would turn them into 502s. Serve them, each answer
        // ending its connection, and only then drain.
        if (config.shutdownDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, config.shutdownDelayMs));
        // Upgraded sockets are no longer the http server's to drain: close them with 1001 alongside.
        await Promise.all([drain(server, config.shutdownTimeoutMs), websockets.close()]);
        await new Promise<void>((resolve) => {
          adminServer.close(() => resolve());
          adminServer.closeAllConnections();
        });
        await bff.close();
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
