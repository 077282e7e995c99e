import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Context, Middleware, Next } from 'koa';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { Config, RoutePolicy } from '../config/config.js';
import { CsrfRequiredError, InvalidRequestError, OriginMismatchError, UnauthenticatedError, type GatewayError } from '../errors.js';
import { carriesCsrfHeader, isForeignOrigin } from '../http/csrf.js';
import type { GatewayState } from '../http/gateway-state.js';
import type { SessionAccess } from '../http/session-access.js';
import type { DpopPrivateJwk, SessionRecord, SessionTokens } from '../session/session-store.js';
import { createDpopProofs, type DpopProofs } from './dpop-proof.js';
import { createUpstreamRequest } from './upstream-request.js';
import type { Upstream } from './forward-request.js';
import type { OwnHeaders } from './upstream-call.js';
import { matchProxyRoute, type ProxyMatch } from './proxy-path.js';
import { bearerAuthorization } from './bearer-authorization.js';
import { createRouteAccess, createRouteAccessNow, type SessionSource } from './route-policy.js';
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

/** What a proxied request sends upstream on the user's behalf. */
export interface ProxyAccess {
  readonly accessToken: string | undefined;
  /** `Bearer <accessToken>` made once per token set (bearer-authorization.ts); absent: made per request. */
  readonly authorization?: string | undefined;
  readonly userHeaders?: Readonly<Record<string, string>> | undefined;
  /** The session's DPoP key on a `dpop: true` route with a token to send (route-policy.ts). */
  readonly dpopKey?: DpopPrivateJwk | undefined;
}

/**
 * One proxied request, step by step: guard → session → (refresh) → forward.
 * Shared by the Koa middleware below (library mode, and anything a host app
 * mounts) and by the standalone gateway's dispatch before Koa
 * (proxy-dispatch.ts): each step has this one implementation.
 */
export interface ProxySteps {
  /** The guards, in the contract's order (X-CSRF, Origin, a path that would leave its API), before any store call. */
  guardError(match: Exclude<ProxyMatch, { kind: 'none' }>, headers: IncomingHttpHeaders): GatewayError | undefined;
  /**
   * The token (and X-User-* headers) for this request. A route whose ROUTES_FILE policy asks for other session or
   * token work (auth, roles, token, user headers) takes route-policy.ts's resolveRouteAccess; every other route
   * (every PROXY_ROUTES entry included) the default: the live session, refreshed when due.
   */
  access(policy: RoutePolicy | undefined, sessions: SessionSource, log: () => Logger): Promise<ProxyAccess>;
  /**
   * access() without a promise for a session already in hand (a cache hit): the default path's answer when the
   * token needs no refresh, a ROUTES_FILE policy's when it needs nothing asynchronous (route-policy.ts's
   * routeAccessNow); undefined when access() must run (a refresh due, another token, a refusal to make).
   */
  accessNow(policy: RoutePolicy | undefined, session: SessionRecord): ProxyAccess | undefined;
  /**
   * Whether a failed access() ends with the session cookie cleared: the provider ended the grant, a logout won
   * the race, or the cookie names no live session. A ROUTES_FILE policy's path clears it whenever it refuses
   * a login; the default path when the browser sent the cookie.
   */
  clearsCookie(err: unknown, policy: RoutePolicy | undefined, cookieSent: boolean): boolean;
  /** Streams the request upstream and the answer back (one writeHead; `ownHeaders` when not set on `res` already). */
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    match: Extract<ProxyMatch, { kind: 'match' }>,
    access: ProxyAccess,
    ownHeaders?: OwnHeaders,
  ): Promise<void>;
}

export function createProxySteps(deps: ProxyDeps): ProxySteps {
  const { config, refresher, upstream, isGatewayCookie, isForwardedCookie } = deps;
  const publicOrigin = config.publicUrl.origin;
  const resolveRouteAccess = createRouteAccess({ refresher, tokens: deps.routeTokens, clock: deps.clock });
  const routeAccessNow = createRouteAccessNow({ refresher, clock: deps.clock });
  const upstreamRequest = createUpstreamRequest({ config, isGatewayCookie, isForwardedCookie, dpopProofs: deps.dpopProofs ?? createDpopProofs() });

  return {
    guardError(match, headers) {
      const policy = match.route.policy;
      if ((policy === undefined || policy.csrf) && !carriesCsrfHeader(headers)) return new CsrfRequiredError();
      if (isForeignOrigin(headers, publicOrigin)) return new OriginMismatchError();
      if (match.kind === 'invalid') return new InvalidRequestError('invalid_path', 'This path would leave the API it is routed to.');
      return undefined;
    },

    access(policy, sessions, log) {
      if (policy !== undefined && !policy.defaultAccess) return resolveRouteAccess(policy, sessions, log);
      return sessions.require().then((session) => refresher.ensureFresh(session, log)).then(userTokenAccess);
    },

    accessNow(policy, session) {
      if (policy !== undefined && !policy.defaultAccess) return routeAccessNow(policy, session);
      return refresher.needsRefresh(session) ? undefined : userTokenAccess(session);
    },

    clearsCookie(err, policy, cookieSent) {
      if (!(err instanceof UnauthenticatedError)) return false;
      return (policy !== undefined && !policy.defaultAccess) || cookieSent;
    },

    forward(req, res, requestId, match, access, ownHeaders) {
      // The client left while its session was read or refreshed: send nothing upstream (a DELETE would still act).
      if (req.socket.destroyed) return Promise.resolve();
      try {
        return forwardNow(req, res, requestId, match, access, ownHeaders);
      } catch (err) {
        // Thrown before any promise existed (a session's unusable DPoP key, say): a rejection like any
        // other, so the error is answered instead of leaving the request hanging.
        return Promise.reject(err);
      }
    },
  };

  function forwardNow(...[req, res, requestId, match, access, ownHeaders]: Parameters<ProxySteps['forward']>): Promise<void> {
    const origin = match.origin;
    const path = match.upstreamPath;
    const { headers, dpop } = upstreamRequest(req, access, { origin, path, method: req.method ?? 'GET' }, requestId);
    return upstream.forward({
      req,
      res,
      origin,
      path,
      isGatewayCookie,
      headersTimeoutMs: match.route.policy?.timeoutMs,
      ownHeaders,
      onAnswer: dpop?.onAnswer,
      headers,
    });
  }
}

/**
 * The default path's access for a session's token set, made once per set (a
 * refresh brings a new one) and shared by every request of the session,
 * whether it came from the cache or the promise path: no object and no
 * `Authorization` string made per request (bearer-authorization.ts).
 */
const accessOfTokens = new WeakMap<SessionTokens, ProxyAccess>();
function userTokenAccess(session: SessionRecord): ProxyAccess {
  let access = accessOfTokens.get(session.tokens);
  if (access === undefined) {
    access = { accessToken: session.tokens.access_token, authorization: bearerAuthorization(session.tokens) };
    accessOfTokens.set(session.tokens, access);
  }
  return access;
}

type Ctx = Context & { state: GatewayState };

/**
 * Each proxied prefix as Koa middleware (library mode; the standalone
 * gateway takes these requests before Koa, proxy-dispatch.ts).
 */
export function proxyMiddleware(deps: ProxyDeps, steps: ProxySteps = createProxySteps(deps)): Middleware<GatewayState> {
  const { config, sessions } = deps;

  const forward = (ctx: Ctx, match: Extract<ProxyMatch, { kind: 'match' }>, access: ProxyAccess) => {
    ctx.res.removeHeader('Cache-Control'); // the upstream decides caching of its own answers
    ctx.respond = false; // we stream the answer ourselves
    return steps.forward(ctx.req, ctx.res, ctx.state.requestId, match, access).catch((err: unknown) => {
      ctx.respond = true; // nothing was sent: let the error middleware answer
      throw err;
    });
  };

  return async (ctx: Ctx, next: Next) => {
    const match = matchProxyRoute(config.proxy.routes, ctx.req.url ?? '/');
    if (match.kind === 'none') return next();
    ctx.res.setHeader('Cache-Control', 'no-store'); // res directly: Koa's ctx.set allocates arrays per call
    const refused = steps.guardError(match, ctx.req.headers);
    if (refused) throw refused;
    if (match.kind !== 'match') return; // guardError refuses every invalid path

    const policy = match.route.policy;
    const source = { load: () => sessions.load(ctx), require: () => sessions.require(ctx) };
    const access = await steps.access(policy, source, () => ctx.state.log).catch((err: unknown) => {
      if (steps.clearsCookie(err, policy, sessions.cookieValue(ctx.req.headers.cookie) !== undefined)) sessions.clearCookie(ctx);
      throw err;
    });
    await forward(ctx, match, access);
  };
}
