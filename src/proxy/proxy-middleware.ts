import type { Context, Middleware, Next } from 'koa';
import type { Clock } from '../clock.js';
import type { Config, RoutePolicy } from '../config/config.js';
import { CsrfRequiredError, InvalidRequestError, OriginMismatchError, UnauthenticatedError } from '../errors.js';
import { hasCsrfHeader, hasForeignOrigin } from '../http/csrf.js';
import type { GatewayState } from '../http/gateway-state.js';
import type { SessionAccess } from '../http/session-access.js';
import type { DpopPrivateJwk } from '../session/session-store.js';
import { createDpopProofs, withDpop, type DpopProofs } from './dpop-proof.js';
import type { Upstream } from './forward-request.js';
import { upstreamRequestHeaders } from './forward-headers.js';
import { matchProxyRoute } from './proxy-path.js';
import { createRouteAccess } from './route-policy.js';
import type { RouteTokens } from './route-token.js';
import type { TokenRefresher } from './token-refresher.js';

export interface ProxyDeps {
  config: Config;
  sessions: SessionAccess;
  refresher: TokenRefresher;
  upstream: Upstream;
  isGatewayCookie: (name: string) => boolean;
  /** PROXY_FORWARD_COOKIES as a test on a cookie name. */
  isForwardedCookie: (name: string) => boolean;
  /** Tokens for ROUTES_FILE routes (exchange, client credentials). */
  routeTokens: RouteTokens;
  /** DPoP proofs for `dpop: true` routes (shares the upstreams' nonces with the WebSocket proxy); default: its own. */
  dpopProofs?: DpopProofs;
  /** Judges the age of a login for a route's maxAuthAgeSeconds. */
  clock: Clock;
}

type Ctx = Context & { state: GatewayState };

/**
 * Each proxied prefix: guard → session → (refresh) → forward.
 * Guards run before any store call, in the contract's order. A route whose
 * ROUTES_FILE policy asks for other session or token work (auth, roles,
 * token, user headers) takes route-policy.ts's path; every other route (every
 * PROXY_ROUTES entry included) the one below, which does no policy work.
 */
export function proxyMiddleware(deps: ProxyDeps): Middleware<GatewayState> {
  const { config, sessions, refresher, upstream, isGatewayCookie, isForwardedCookie } = deps;
  const publicOrigin = config.publicUrl.origin;
  const resolveRouteAccess = createRouteAccess({ refresher, tokens: deps.routeTokens, clock: deps.clock });
  const dpopProofs = deps.dpopProofs ?? createDpopProofs();

  const forward = (ctx: Ctx, origin: string, path: string, accessToken: string | undefined, policy?: RoutePolicy, userHeaders?: Record<string, string>, dpopKey?: DpopPrivateJwk) => {
    ctx.res.removeHeader('Cache-Control'); // the upstream decides caching of its own answers
    ctx.respond = false; // we stream the answer ourselves
    // A `dpop: true` route: Authorization: DPoP and a proof made for this very call (dpop-proof.ts).
    const dpop = dpopKey && accessToken !== undefined ? dpopProofs.forRequest({ key: dpopKey, accessToken, method: ctx.req.method ?? 'GET', origin, path }) : undefined;
    return upstream.forward({
      req: ctx.req,
      res: ctx.res,
      origin,
      path,
      isGatewayCookie,
      headersTimeoutMs: policy?.timeoutMs,
      onAnswer: dpop?.onAnswer,
      headers: withDpop(dpop, upstreamRequestHeaders({
        incoming: ctx.req.headers,
        accessToken,
        userHeaders,
        isGatewayCookie,
        isForwardedCookie,
        peerAddress: ctx.req.socket.remoteAddress ?? '',
        trustProxy: config.trustProxy,
        publicUrl: config.publicUrl,
        requestId: ctx.state.requestId,
      })),
    }).catch((err: unknown) => {
      ctx.respond = true; // nothing was sent: let the error middleware answer
      throw err;
    });
  };

  const clearCookieIfEnded = (ctx: Ctx) => (err: unknown) => {
    // The provider ended the grant, or a logout won the race: the cookie names nothing any more.
    if (err instanceof UnauthenticatedError) sessions.clearCookie(ctx);
    throw err;
  };

  return async (ctx: Ctx, next: Next) => {
    const match = matchProxyRoute(config.proxy.routes, ctx.req.url ?? '/');
    if (match.kind === 'none') return next();
    ctx.res.setHeader('Cache-Control', 'no-store'); // res directly: Koa's ctx.set allocates arrays per call
    const policy = match.route.policy;
    if ((policy === undefined || policy.csrf) && !hasCsrfHeader(ctx)) throw new CsrfRequiredError();
    if (hasForeignOrigin(ctx, publicOrigin)) throw new OriginMismatchError();
    if (match.kind === 'invalid') throw new InvalidRequestError('invalid_path', 'This path would leave the API it is routed to.');

    if (policy !== undefined && !policy.defaultAccess) {
      const access = await resolveRouteAccess(policy, { load: () => sessions.load(ctx), require: () => sessions.require(ctx) }, () => ctx.state.log).catch(
        clearCookieIfEnded(ctx),
      );
      return forward(ctx, match.route.target.origin, match.upstreamPath, access.accessToken, policy, access.userHeaders, access.dpopKey);
    }
    const session = await refresher.ensureFresh(await sessions.require(ctx), () => ctx.state.log).catch(clearCookieIfEnded(ctx));
    await forward(ctx, match.route.target.origin, match.upstreamPath, session.tokens.access_token, policy);
  };
}
