import Router from '@koa/router';
import type { Context } from 'koa';
import { InvalidLogoutTokenError, PayloadTooLargeError } from '../errors.js';
import type { LogoutTokenVerifier } from '../oidc/logout-token.js';
import type { Metrics } from '../ops/metrics.js';
import type { SessionStore } from '../session/session-store.js';
import type { GatewayState } from './gateway-state.js';
import { readLimitedBody } from './read-body.js';

/** A logout token is about 1 KiB; the form holds nothing else worth more. */
const LOGOUT_FORM_LIMIT_BYTES = 8 * 1024;

type Ctx = Context & { state: GatewayState };

export interface BackchannelLogoutDeps {
  store: SessionStore;
  verifyLogoutToken: LogoutTokenVerifier;
  metrics?: Metrics;
}

/**
 * POST /auth/backchannel-logout (OpenID Connect Back-Channel Logout 1.0):
 * the provider, not a browser, calls it, so no cookie, CSRF or Origin rule
 * applies (app.ts exempts it); the signed logout token is the credential.
 * Sessions are deleted in the shared store, so every replica forgets them.
 */
export function createBackchannelLogoutRoute(deps: BackchannelLogoutDeps): Router<GatewayState> {
  const { store, verifyLogoutToken, metrics } = deps;
  const router = new Router<GatewayState>();

  router.post('/auth/backchannel-logout', async (ctx: Ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const token = await readLogoutToken(ctx);
    const claims = await verifyLogoutToken(token);
    // §2.7: a sid names one provider session; without one, every session of the subject ends.
    const ended = await (claims.sid !== undefined ? store.deleteBySid(claims.sid) : store.deleteBySub(claims.sub!)).catch(
      async (err: unknown) => {
        // Not done: let the provider's retry of this very token through (503 now, not 400 later).
        await claims.release().catch(() => undefined);
        throw err;
      },
    );
    if (ended.length > 0) metrics?.logouts.inc({ kind: 'backchannel' }, ended.length);
    ctx.state.log.info(
      { event: 'backchannel_logout', sub: claims.sub ?? ended[0]?.sub, sid: claims.sid, sessions: ended.length },
      'back-channel logout',
    );
    ctx.status = 200;
    ctx.body = { sessions_ended: ended.length };
  });

  return router;
}

/** Every way of not carrying one good token is "a bad token" (400), as the contract and §2.8 say. */
async function readLogoutToken(ctx: Ctx): Promise<string> {
  // §2.5: the token comes as an application/x-www-form-urlencoded POST body.
  if (!ctx.is('application/x-www-form-urlencoded')) {
    throw new InvalidLogoutTokenError('the logout_token must come in an application/x-www-form-urlencoded body');
  }
  const body = await readLimitedBody(ctx, LOGOUT_FORM_LIMIT_BYTES).catch((err: unknown) => {
    if (err instanceof PayloadTooLargeError) throw new InvalidLogoutTokenError(`the form is larger than ${LOGOUT_FORM_LIMIT_BYTES} bytes`);
    throw err;
  });
  const form = new URLSearchParams(body.toString('utf8'));
  const tokens = form.getAll('logout_token');
  if (tokens.length !== 1 || tokens[0] === '') throw new InvalidLogoutTokenError('the form needs exactly one logout_token field');
  return tokens[0]!;
}
