import type { IncomingMessage, RequestListener } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { Config } from '../config/config.js';
import {
  GatewayError,
  InvalidRequestError,
  NotFoundError,
  OriginMismatchError,
  UnauthenticatedError,
} from '../errors.js';
import { toGatewayError } from '../http/error-middleware.js';
import { returnToFromReferer } from '../http/return-to.js';
import { requestIdFrom } from '../request-id.js';
import { createSessionAccess } from '../http/session-access.js';
import { createSessionCookieCodec } from '../session/session-cookie.js';
import type { DpopPrivateJwk, SessionRecord, SessionStore } from '../session/session-store.js';
import { createDpopProofs, type DpopProofs } from './dpop-proof.js';
import { createUpstreamRequest } from './upstream-request.js';
import { forwardedCookieMatcher, gatewayCookieMatcher } from './gateway-cookies.js';
import { matchProxyRoute } from './proxy-path.js';
import { createSessionWatch } from './session-watch.js';
import { createRouteAccess } from './route-policy.js';
import type { RouteTokens } from './route-token.js';
import type { TokenRefresher } from './token-refresher.js';
import { upstreamStepUp } from './upstream-step-up.js';
import { bridgeWebSockets, type WebSocketBridge } from './websocket-bridge.js';
import {
  answerAsPlainRequest,
  openUpstreamUpgrade,
  refuseUpgrade,
  relayUpstreamRefusal,
  switchingProtocols,
} from './websocket-handshake.js';

/** RFC 6455 §7.4.1: 1008 = policy violation (here: the session behind the socket ended). */
const CLOSE_SESSION_ENDED = 1008;
/** RFC 6455 §7.4.1: 1001 = going away (the gateway shuts down). */
const CLOSE_GOING_AWAY = 1001;
/** How long each side may take to finish a closing handshake we started, in ms. */
const CLOSE_GRACE_MS = 5_000;

export interface WebSocketProxyDeps {
  config: Config;
  store: SessionStore;
  refresher: TokenRefresher;
  /** Tokens for ROUTES_FILE routes (the same instance as the HTTP proxy's: one single-flight). */
  routeTokens: RouteTokens;
  /** DPoP proofs for `dpop: true` routes (the HTTP proxy's, for the upstreams' nonces); default: its own. */
  dpopProofs?: DpopProofs;
  clock: Clock;
  logger: Logger;
  /** The public app: answers requests that offer an upgrade other than WebSocket (`Upgrade: h2c`). */
  plainRequest?: RequestListener;
}

export interface WebSocketProxy {
  /** Listener for the public http server's `upgrade` event. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Open proxied WebSockets. */
  readonly size: number;
  /** Refuses new upgrades and closes every open WebSocket with 1001; resolves once all are closed. */
  close(): Promise<void>;
}

/**
 * WebSockets under a PROXY_ROUTES prefix: Origin must be PUBLIC_URL's (the
 * browser cannot add X-CSRF to a handshake, but cannot forge Origin either),
 * then the session, a refresh when due, and the handshake forwarded with the
 * bearer token. After the 101 the bytes are relayed untouched
 * (websocket-bridge.ts); a session watch closes the socket with 1008 once the
 * session is gone.
 */
export function createWebSocketProxy(deps: WebSocketProxyDeps): WebSocketProxy {
  const { config, store, refresher, clock, logger } = deps;
  const publicOrigin = config.publicUrl.origin;
  const cookieName = config.session.cookieName;
  const isGatewayCookie = gatewayCookieMatcher(cookieName);
  const isForwardedCookie = forwardedCookieMatcher(config.proxy.forwardCookies);
  const cookies = createSessionCookieCodec(config.session.secrets);
  const sessions = createSessionAccess({ config, store, cookies, clock });
  const idleMs = config.session.idleTimeoutSeconds === undefined ? undefined : config.session.idleTimeoutSeconds * 1000;
  const bridges = new Set<WebSocketBridge>();
  const resolveRouteAccess = createRouteAccess({ refresher, tokens: deps.routeTokens, clock });
  const upstreamRequest = createUpstreamRequest({ config, isGatewayCookie, isForwardedCookie, dpopProofs: deps.dpopProofs ?? createDpopProofs() });
  let closing = false;

  // Read-only on purpose: an open socket is not a request, so it neither counts as activity nor deletes anything.
  const watch = createSessionWatch({
    intervalMs: config.proxy.websocketSessionCheckMs,
    logger,
    async isLive(id) {
      const record = await store.get(id);
      if (!record) return false;
      return idleMs === undefined || clock() - (record.last_seen_at_ms ?? record.created_at_ms) < idleMs;
    },
  });

  async function accept(req: IncomingMessage, socket: Duplex, head: Buffer, requestId: string, log: Logger): Promise<void> {
    if (closing) throw new GatewayError(503, 'shutting_down', 'The gateway is shutting down; reconnect shortly.');
    const match = matchProxyRoute(config.proxy.routes, req.url ?? '/');
    if (match.kind === 'none') throw new NotFoundError();
    if (!isWebSocketHandshake(req)) throw new GatewayError(400, 'bad_request', 'Only WebSocket upgrades are proxied.');
    if (req.headers.origin !== publicOrigin) throw new OriginMismatchError();
    if (match.kind === 'invalid') throw new InvalidRequestError('invalid_path', 'This path would leave the API it is routed to.');
    const policy = match.route.policy;
    if (policy && !policy.websocket) throw new NotFoundError('This route does not accept WebSocket upgrades.');

    let session: SessionRecord | null;
    let accessToken: string | undefined;
    let userHeaders: Record<string, string> | undefined;
    let dpopKey: DpopPrivateJwk | undefined;
    if (policy && !policy.defaultAccess) {
      ({ session, accessToken, userHeaders, dpopKey } = await resolveRouteAccess(policy, { load: () => loadSession(req), require: () => requireSession(req) }, () => log));
    } else {
      session = await refresher.ensureFresh(await requireSession(req), () => log);
      accessToken = session.tokens.access_token;
    }
    if (socket.destroyed) return;
    // The handshake is a GET (RFC 9449 §4.2 htm); there is no replay for a nonce here: the client reconnects.
    const { headers, dpop } = upstreamRequest(req, { accessToken, userHeaders, dpopKey }, { origin: match.origin, path: match.upstreamPath, method: 'GET' }, requestId);

    const answer = await openUpstreamUpgrade({
      target: match.route.target,
      path: match.upstreamPath,
      timeoutMs: policy?.timeoutMs ?? config.proxy.timeoutMs,
      client: socket,
      headers,
    });
    if (answer.kind === 'refused') dpop?.onAnswer(answer.response.statusCode ?? 0, answer.response.headers, false);
    if (closing && answer.kind === 'upgraded') {
      // Shutdown began while this handshake was under way: its bridge would outlive the 1001 sweep.
      answer.socket.destroy();
      throw new GatewayError(503, 'shutting_down', 'The gateway is shutting down; reconnect shortly.');
    }
    if (answer.kind === 'refused') {
      // RFC 9470: the upstream's own step-up challenge is refused in the gateway's shape, as for plain requests.
      const stepUp = upstreamStepUp(answer.response.statusCode ?? 0, answer.response.headers);
      if (stepUp) {
        answer.response.destroy();
        throw stepUp;
      }
      log.info({ path: match.route.prefix, status: answer.response.statusCode }, 'websocket refused by upstream');
      relayUpstreamRefusal(socket, answer.response, isGatewayCookie);
      return;
    }
    if (socket.destroyed) {
      answer.socket.destroy();
      return;
    }
    socket.write(switchingProtocols(answer.response, isGatewayCookie));
    open(socket as Socket, answer.socket, { clientHead: head, upstreamHead: answer.head }, session, match.route.prefix, log);
  }

  async function loadSession(req: IncomingMessage): Promise<SessionRecord | null> {
    // The same reading of the session cookie as a proxied request's (session-access.ts).
    return sessions.loadByCookie(sessions.cookieValue(req.headers.cookie));
  }

  async function requireSession(req: IncomingMessage): Promise<SessionRecord> {
    const record = await loadSession(req);
    if (!record) throw new UnauthenticatedError();
    return record;
  }

  function open(
    client: Socket,
    upstream: Socket,
    heads: { clientHead: Buffer; upstreamHead: Buffer },
    session: SessionRecord | null,
    prefix: string,
    log: Logger,
  ): void {
    for (const socket of [client, upstream]) {
      socket.setNoDelay(true);
      // Notices a peer that vanished without a FIN (laptop lid closed) within minutes, not hours.
      socket.setKeepAlive(true, 30_000);
    }
    // A peer that never answers the close frame may not hold shutdown past SHUTDOWN_TIMEOUT_MS.
    const bridge = bridgeWebSockets(client, upstream, { ...heads, graceMs: Math.min(CLOSE_GRACE_MS, config.shutdownTimeoutMs) });
    bridges.add(bridge);
    // A socket opened without a session (auth: none or optional) has no session to outlive.
    const unwatch = session ? watch.watch(session.id, () => bridge.close(CLOSE_SESSION_ENDED, 'session ended')) : () => undefined;
    const opened = clock();
    log.info({ event: 'websocket_open', path: prefix, sub: session?.sub }, 'websocket open');
    void bridge.done.then((end) => {
      bridges.delete(bridge);
      unwatch();
      log.info(
        {
          event: 'websocket_closed',
          path: prefix,
          ended_by: end.by,
          duration_ms: clock() - opened,
          bytes_from_client: end.bytesFromClient,
          bytes_from_upstream: end.bytesFromUpstream,
        },
        'websocket closed',
      );
    });
  }

  return {
    handleUpgrade(req, socket, head) {
      // A reset before or during the handshake must not become an uncaught 'error'.
      socket.on('error', () => socket.destroy());
      if (!isWebSocketHandshake(req) && deps.plainRequest) {
        answerAsPlainRequest(req, socket, deps.plainRequest);
        return;
      }
      const requestId = requestIdFrom(req.headers['x-request-id']);
      const log = logger.child({ request_id: requestId });
      accept(req, socket, head, requestId, log).catch((caught: unknown) => {
        const err = toGatewayError(caught);
        const line = { path: (req.url ?? '/').split('?')[0]!.slice(0, 512), status: err.status, code: err.code };
        if (err.status >= 500) log.error({ ...line, err: (caught as Error)?.message }, 'websocket upgrade failed');
        else log.info(line, 'websocket upgrade refused');
        refuseUpgrade(socket, err, requestId, returnToFromReferer(req.headers.referer, publicOrigin));
      });
    },
    get size() {
      return bridges.size;
    },
    async close() {
      closing = true;
      watch.stop();
      const open = [...bridges];
      for (const bridge of open) bridge.close(CLOSE_GOING_AWAY, 'gateway shutting down');
      await Promise.all(open.map((bridge) => bridge.done));
    },
  };
}

function isWebSocketHandshake(req: IncomingMessage): boolean {
  return req.method === 'GET' && (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}
