import type { Context, Middleware, Next } from 'koa';
import type { Config } from '../config/config.js';
import { CsrfRequiredError, InvalidRequestError, OriginMismatchError, UnauthenticatedError } from '../errors.js';
import { hasCsrfHeader, hasForeignOrigin } from '../http/csrf.js';
import type { GatewayState } from '../http/gateway-state.js';
import type { SessionAccess } from '../http/session-access.js';
import type { Upstream } from './forward-request.js';
import { upstreamRequestHeaders } from './forward-headers.js';
import { matchProxyRoute } from './proxy-path.js';
import type { TokenRefresher } from './token-refresher.js';

export interface ProxyDeps {
  config: Config;
  sessions: SessionAccess;
  refresher: TokenRefresher;
  upstream: Upstream;
  isGatewayCookie: (name: string) => boolean;
  /** PROXY_FORWARD_COOKIES as a test on a cookie name. */
  isForwardedCookie: (name: string) => boolean;
}

/**
 * Each PROXY_ROUTES prefix: guard → session → (refresh) → forward.
 * Guards run before any store call, in the contract's order.
 */
export function proxyMiddleware(deps: ProxyDeps): Middleware<GatewayState> {
  const { config, sessions, refresher, upstream, isGatewayCookie, isForwardedCookie } = deps;
  const publicOrigin = config.publicUrl.origin;

  return async (ctx: Context & { state: GatewayState }, next: Next) => {
    const match = matchProxyRoute(config.proxy.routes, ctx.req.url ?? '/');
    if (match.kind === 'none') return next();
    ctx.res.setHeader('Cache-Control', 'no-store'); // res directly: Koa's ctx.set allocates arrays per call
    if (!hasCsrfHeader(ctx)) throw new CsrfRequiredError();
    if (hasForeignOrigin(ctx, publicOrigin)) throw new OriginMismatchError();
    if (match.kind === 'invalid') throw new InvalidRequestError('invalid_path', 'This path would leave the API it is routed to.');

    const session = await refresher.ensureFresh(await sessions.require(ctx), () => ctx.state.log).catch((err: unknown) => {
      // The provider ended the grant, or a logout won the race: the cookie names nothing any more.
      if (err instanceof UnauthenticatedError) sessions.clearCookie(ctx);
      throw err;
    });
    ctx.res.removeHeader('Cache-Control'); // the upstream decides caching of its own answers
    ctx.respond = false; // we stream the answer ourselves
    await upstream.forward({
      req: ctx.req,
      res: ctx.res,
      origin: match.route.target.origin,
      path: match.upstreamPath,
      isGatewayCookie,
      headers: upstreamRequestHeaders({
        incoming: ctx.req.headers,
        accessToken: session.tokens.access_token,
        isGatewayCookie,
        isForwardedCookie,
        peerAddress: ctx.req.socket.remoteAddress ?? '',
        trustProxy: config.trustProxy,
        publicUrl: config.publicUrl,
        requestId: ctx.state.requestId,
      }),
    }).catch((err: unknown) => {
      ctx.respond = true; // nothing was sent: let the error middleware answer
      throw err;
    });
  };
}
