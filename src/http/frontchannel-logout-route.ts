import Router from '@koa/router';
import type { Context } from 'koa';
import type { Metrics } from '../ops/metrics.js';
import type { SessionStore } from '../session/session-store.js';
import type { GatewayState } from './gateway-state.js';

type Ctx = Context & { state: GatewayState };

export interface FrontchannelLogoutDeps {
  store: SessionStore;
  /** OIDC_ISSUER: the only `iss` whose logouts are honoured; its origin is the only allowed frame parent. */
  issuer: string;
  metrics?: Metrics;
}

const MAX_PARAM_LENGTH = 2048;

/**
 * GET /auth/frontchannel-logout?iss=…&sid=… (OpenID Connect Front-Channel
 * Logout 1.0): the provider's logout page loads it in a hidden iframe. That
 * iframe is cross-site, so the browser sends no SameSite=Lax session cookie:
 * the sid names the sessions, and every replica forgets them through the
 * shared store. Nothing is deleted unless iss is this gateway's provider.
 */
export function createFrontchannelLogoutRoute(deps: FrontchannelLogoutDeps): Router<GatewayState> {
  const { store, issuer, metrics } = deps;
  // Only the provider's own pages may frame this; X-Frame-Options has no allow-list, so CSP says it.
  const csp = `default-src 'none'; style-src 'unsafe-inline'; frame-ancestors ${new URL(issuer).origin}`;
  const router = new Router<GatewayState>();

  router.get('/auth/frontchannel-logout', async (ctx: Ctx) => {
    ctx.res.removeHeader('X-Frame-Options');
    ctx.set('Content-Security-Policy', csp);
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'text/html; charset=utf-8';
    const params = new URLSearchParams(ctx.querystring);
    const iss = single(params, 'iss');
    const sid = single(params, 'sid');
    // §3: iss and sid come together; a logout for another issuer's session is not ours to perform.
    if (iss !== issuer || !sid) {
      ctx.state.log.warn({ event: 'frontchannel_logout_refused', iss_matches: iss === issuer, has_sid: Boolean(sid) }, 'front-channel logout refused');
      ctx.status = 400;
      ctx.body = page('Logout request refused', 'This logout request does not come from this application\u2019s identity provider.');
      return;
    }
    const ended = await store.deleteBySid(sid);
    if (ended.length > 0) metrics?.logouts.inc({ kind: 'frontchannel' }, ended.length);
    ctx.state.log.info({ event: 'frontchannel_logout', sub: ended[0]?.sub, sid, sessions: ended.length }, 'front-channel logout');
    ctx.status = 200;
    ctx.body = page('Logged out', 'You have been logged out of this application.');
  });

  return router;
}

/** One value at most, of a sane length; anything else counts as absent. */
function single(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  return values.length === 1 && values[0]!.length > 0 && values[0]!.length <= MAX_PARAM_LENGTH ? values[0] : undefined;
}

function page(title: string, text: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body><p>${text}</p></body></html>\n`;
}
