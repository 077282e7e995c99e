import type { IncomingMessage } from 'node:http';
import type { Config } from '../config/config.js';
import type { DpopPrivateJwk } from '../session/session-store.js';
import { withDpop, type DpopProofs, type DpopRequest } from './dpop-proof.js';
import { upstreamRequestHeaders } from './forward-headers.js';

/** What a request sends upstream on the user's behalf (route-policy.ts's answer, or the user's token). */
export interface UpstreamCredentials {
  readonly accessToken: string | undefined;
  /** `Bearer <accessToken>` made once per token set (bearer-authorization.ts). */
  readonly authorization?: string | undefined;
  readonly userHeaders?: Readonly<Record<string, string>> | undefined;
  readonly dpopKey?: DpopPrivateJwk | undefined;
}

export interface UpstreamRequestDeps {
  config: Config;
  isGatewayCookie: (name: string) => boolean;
  isForwardedCookie: (name: string) => boolean;
  dpopProofs: DpopProofs;
}

/**
 * The headers of one upstream call, HTTP or WebSocket handshake: the client's
 * rewritten (forward-headers.ts), the bearer token or, on a `dpop: true`
 * route, `Authorization: DPoP` with a proof made for this very call.
 */
export function createUpstreamRequest(deps: UpstreamRequestDeps) {
  const { config, isGatewayCookie, isForwardedCookie, dpopProofs } = deps;
  return function upstreamRequest(
    req: IncomingMessage,
    credentials: UpstreamCredentials,
    target: { origin: string; path: string; method: string },
    requestId: string,
  ): { headers: Record<string, string | string[]>; dpop: DpopRequest | undefined } {
    const { accessToken, dpopKey } = credentials;
    const dpop = dpopKey && accessToken !== undefined ? dpopProofs.forRequest({ key: dpopKey, accessToken, ...target }) : undefined;
    const headers = upstreamRequestHeaders({
      incoming: req.headers,
      accessToken,
      authorization: credentials.authorization,
      userHeaders: credentials.userHeaders,
      isGatewayCookie,
      isForwardedCookie,
      peerAddress: req.socket.remoteAddress ?? '',
      trustProxy: config.trustProxy,
      publicUrl: config.publicUrl,
      requestId,
    });
    return { headers: withDpop(dpop, headers), dpop };
  };
}
