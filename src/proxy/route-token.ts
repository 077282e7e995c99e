import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { Config, RouteToken } from '../config/config.js';
import { createClientCredentials, type ClientTokens } from './client-credentials.js';
import type { OidcClient } from '../oidc/oidc-client.js';
import type { Metrics } from '../ops/metrics.js';
import { createTokenExchange, type ExchangedTokens } from './token-exchange.js';
import type { SessionRecord, SessionStore } from '../session/session-store.js';
import { createTokenSealer } from '../session/token-sealer.js';

/** The bearer token a route's `token` setting sends upstream, or undefined for none. */
export interface RouteTokens {
  tokenFor(token: RouteToken, session: SessionRecord | null, log: () => Logger): Promise<string | undefined>;
}

/**
 * Picks the token per route: the user's (already refreshed by the caller),
 * none, one exchanged for the route's audience, or the gateway's own. A
 * client token is never taken from or stored with a session: it is not the
 * user's.
 */
function createRouteTokens(deps: { exchanged: ExchangedTokens; client: ClientTokens }): RouteTokens {
  return {
    async tokenFor(token, session, log) {
      switch (token.type) {
        case 'user':
          return session?.tokens.access_token;
        case 'none':
          return undefined;
        case 'exchange':
          return session === null ? undefined : deps.exchanged.tokenFor(session, token.audience, token.scope, log);
        case 'client':
          return deps.client.tokenFor(token.scope, log);
      }
    },
  };
}

/** The route tokens of a running gateway: exchanged and client tokens kept (sealed) in its store. */
export function createStoredRouteTokens(deps: {
  config: Config;
  store: SessionStore;
  oidc: Pick<OidcClient, 'grant'>;
  clock: Clock;
  metrics?: Pick<Metrics, 'routeTokenGrants'> | undefined;
}): RouteTokens {
  const { config, store, oidc, clock, metrics } = deps;
  const sealer = createTokenSealer(config.session.secrets);
  return createRouteTokens({
    exchanged: createTokenExchange({
      config,
      store,
      oidc,
      clock,
      sealer,
      onGrant: (outcome) => metrics?.routeTokenGrants.inc({ grant: 'token_exchange', outcome }),
    }),
    client: createClientCredentials({
      config,
      store,
      oidc,
      clock,
      sealer,
      onGrant: (outcome) => metrics?.routeTokenGrants.inc({ grant: 'client_credentials', outcome }),
    }),
  });
}
