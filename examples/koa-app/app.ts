/**
 * A Koa app of its own that embeds the gateway: its pages read the login from
 * `ctx.session`, and /orders calls an API server-side with a fresh access
 * token from `ctx.state.bff.accessToken()`. The browser never sees a token.
 */
import Router from '@koa/router';
import Koa, { type Context, type Next } from 'koa';
import { createBff, GatewayError, requiresAuth, sessionOf, type BffConfigInput, type BffState, type Config } from 'oidc-bff';

export interface ExampleAppOptions {
  /** The gateway's configuration: the environment's variable names as an object, or loadConfig(process.env). */
  bff: BffConfigInput | Config;
  /** Base URL of the orders API this app calls on the user's behalf. */
  ordersApiUrl: string;
}

export function createExampleApp(options: ExampleAppOptions) {
  const bff = createBff(options.bff);
  const app = new Koa<BffState>();
  const router = new Router<BffState>();

  // Public: works with or without a login.
  router.get('/', (ctx) => {
    const session = sessionOf(ctx);
    ctx.body = { greeting: `Hello, ${session ? String(session.user['name'] ?? session.user['sub']) : 'stranger'}` };
  });

  // Only for logged-in users: claims, roles and expiry come from ctx.session.
  router.get('/profile', requiresAuth, (ctx) => {
    const session = sessionOf(ctx)!;
    ctx.body = { sub: session.user['sub'], roles: session.roles, expires_at: session.expires_at };
  });

  // Server-side API call with the user's access token (refreshed when due).
  router.get('/orders', requiresAuth, async (ctx) => {
    const token = await ctx.state.bff.accessToken();
    const answer = await fetch(`${options.ordersApiUrl}/orders`, { headers: { authorization: `Bearer ${token}` } });
    // Pass on what the page needs, never the API's whole answer (an API may echo what it was sent).
    const orders = (await answer.json()) as { items?: unknown[] };
    ctx.body = { api_status: answer.status, items: orders.items ?? [] };
  });

  app.use(renderErrors);
  app.use(bff.middleware);
  app.use(router.routes());
  return { app, bff };
}

/** The host app's own error rendering: the gateway's errors carry a status and a stable code. */
async function renderErrors(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    ctx.status = err.status;
    ctx.body = { error: err.code, message: err.expose ? err.message : 'Try again shortly.' };
  }
}
