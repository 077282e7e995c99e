import Router from '@koa/router';
import Koa, { type Context } from 'koa';
import type { Logger } from 'pino';
import { requestIdFrom } from '../request-id.js';
import type { OidcClient } from '../oidc/oidc-client.js';
import type { SessionStore } from '../session/session-store.js';
import type { Metrics } from './metrics.js';

export interface AdminAppDeps {
  store: SessionStore;
  oidc: Pick<OidcClient, 'isReady'>;
  logger: Logger;
  /** True once SIGTERM arrived: readiness fails first so the load balancer drains us. */
  isShuttingDown: () => boolean;
  metrics?: Metrics;
  /** Extra routes (metrics, session management) mounted by their own modules. */
  routers?: Router[];
}

/** What every admin request carries: a logger with its request id. */
export interface AdminState {
  log: Logger;
}

/** The admin listener (ADMIN_PORT): never routed by the ingress. */
export function createAdminApp(deps: AdminAppDeps): Koa {
  const { store, oidc, isShuttingDown } = deps;
  const app = new Koa();
  const router = new Router();

  router.get('/healthz', (ctx: Context) => {
    ctx.body = { status: 'ok' };
  });

  router.get('/readyz', async (ctx: Context) => {
    const checks = {
      shutting_down: isShuttingDown(),
      discovery_loaded: oidc.isReady(),
      store_reachable: await store.ping().then(
        () => true,
        () => false,
      ),
    };
    const ready = !checks.shutting_down && checks.discovery_loaded && checks.store_reachable;
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'not_ready', ...checks };
  });

  router.get('/status', async (ctx: Context) => {
    try {
      const status = await store.status();
      // Fallback and migration stores answer with details even when a Redis is down.
      ctx.status = status.connected ? 200 : 503;
      ctx.body = status;
    } catch {
      ctx.status = 503;
      ctx.body = { store: store.kind, connected: false };
    }
  });

  if (deps.metrics) {
    const { registry } = deps.metrics;
    router.get('/metrics', async (ctx: Context) => {
      ctx.type = registry.contentType;
      ctx.body = await registry.metrics();
    });
  }

  // A request id for the admin port's audit lines too (operator revocations); no access log: probes would flood it.
  app.use((ctx, next) => {
    const requestId = requestIdFrom(ctx.req.headers['x-request-id']);
    ctx.res.setHeader('X-Request-Id', requestId);
    (ctx.state as AdminState).log = deps.logger.child({ request_id: requestId });
    return next();
  });
  app.use(async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store');
    try {
      await next();
    } catch (err) {
      // Same JSON shape as the public port; internals stay in the log.
      const status = (err as { status?: number }).status ?? 500;
      (ctx.state as AdminState).log.error({ err: (err as Error).message, path: ctx.path }, 'admin request failed');
      ctx.status = status >= 400 && status < 600 ? status : 500;
      ctx.body = { error: ctx.status >= 500 ? 'internal_error' : 'bad_request', message: ctx.status >= 500 ? 'Internal error.' : (err as Error).message };
    }
  });
  app.use(router.routes());
  for (const extra of deps.routers ?? []) app.use(extra.routes());
  app.use((ctx) => {
    ctx.status = 404;
    ctx.body = { error: 'not_found', message: 'Nothing here.' };
  });
  app.silent = true;
  return app;
}
