import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { Config } from '../config/config.js';
import { GatewayError, ProviderUnavailableError, TokenExchangeRefusedError } from '../errors.js';
import { createSharedTokenCache, grantCacheTimings } from './shared-token-cache.js';
import type { SessionRecord, SessionStore } from '../session/session-store.js';
import type { TokenSealer } from '../session/token-sealer.js';
import type { OidcClient } from '../oidc/oidc-client.js';
import { accessTokenExpiresAtMs } from '../oidc/user-claims.js';

/** Token exchange (RFC 8693) per session and audience; made below. */
export interface ExchangedTokens {
  tokenFor(session: SessionRecord, audience: string, scope: string | undefined, log: () => Logger): Promise<string>;
}

const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** What a grant module of a route token needs (client credentials takes the same). */
export interface GrantDeps {
  config: Config;
  store: SessionStore;
  oidc: Pick<OidcClient, 'grant'>;
  sealer: TokenSealer;
  clock: Clock;
  pollIntervalMs?: number;
  /** Observes grants at the provider (metrics). */
  onGrant?: (outcome: 'issued' | 'refused' | 'unavailable') => void;
}

export type TokenExchangeDeps = GrantDeps;

/**
 * RFC 8693 token exchange for `token: exchange` routes: the user's access
 * token for one whose audience is the route's API, as Keycloak's standard
 * token exchange does it. The result is kept per session and audience in the
 * store (sealed, in the session's hash tag, deleted with the session) and
 * reused until `exp − TOKEN_REFRESH_SKEW_SECONDS`; renewals happen once across
 * replicas (shared-token-cache.ts).
 */
export function createTokenExchange(deps: TokenExchangeDeps): ExchangedTokens {
  const { config, store, oidc, clock } = deps;
  const cache = createSharedTokenCache({
    clock,
    sealer: deps.sealer,
    ...grantCacheTimings(config),
    ...(deps.pollIntervalMs !== undefined ? { pollIntervalMs: deps.pollIntervalMs } : {}),
    read: (key) => {
      const [id, name] = splitKey(key);
      return store.getSessionValue(id, name);
    },
    write: (key, sealed, expiresAtMs) => {
      const [id, name] = splitKey(key);
      return store.putSessionValue(id, name, sealed, expiresAtMs);
    },
    lock: (key, ttlMs) => store.acquireLock(key, ttlMs),
  });

  return {
    tokenFor(session, audience, scope, log: () => Logger) {
      // Session ids are base64url: a space cannot occur in them.
      const key = `${session.id} exchange:${audience}${scope ? ` ${scope}` : ''}`;
      return cache.get(key, async () => {
        const parameters: Record<string, string> = {
          subject_token: session.tokens.access_token,
          subject_token_type: ACCESS_TOKEN_TYPE,
          requested_token_type: ACCESS_TOKEN_TYPE,
          audience,
          ...(scope ? { scope } : {}),
        };
        try {
          const response = await oidc.grant(TOKEN_EXCHANGE_GRANT, parameters);
          deps.onGrant?.('issued');
          return {
            accessToken: response.access_token,
            expiresAtMs: accessTokenExpiresAtMs({ accessToken: response.access_token, expiresInSeconds: response.expires_in, nowMs: clock() }),
          };
        } catch (err) {
          if (err instanceof GatewayError && err.status < 500) {
            deps.onGrant?.('refused');
            log().info({ event: 'token_exchange_refused', sub: session.sub, audience, reason: err.message }, 'provider refused the token exchange');
            throw new TokenExchangeRefusedError(err);
          }
          deps.onGrant?.('unavailable');
          log().warn({ event: 'token_exchange_failed', sub: session.sub, audience, reason: (err as Error).message }, 'token exchange failed');
          throw err instanceof GatewayError ? err : new ProviderUnavailableError(err);
        }
      });
    },
  };
}

function splitKey(key: string): [string, string] {
  const space = key.indexOf(' ');
  return [key.slice(0, space), key.slice(space + 1)];
}
