import type { Logger } from 'pino';
import { GatewayError, ProviderUnavailableError } from '../errors.js';
import { createSharedTokenCache, grantCacheTimings } from './shared-token-cache.js';
import type { GrantDeps } from './token-exchange.js';
import { accessTokenExpiresAtMs } from '../oidc/user-claims.js';

/** The gateway's own client-credentials tokens, one per scope; made below. */
export interface ClientTokens {
  tokenFor(scope: string | undefined, log: () => Logger): Promise<string>;
}

/** What the grant needs: the same as token exchange's. */
export type ClientCredentialsDeps = GrantDeps;

/**
 * The gateway's own tokens for `token: client` routes (client credentials):
 * one per client and scope, shared by every replica through the store
 * (sealed), renewed before expiry once across replicas. Never keyed by, nor
 * stored with, a user's session.
 */
export function createClientCredentials(deps: ClientCredentialsDeps): ClientTokens {
  const { config, store, oidc, clock } = deps;
  const cache = createSharedTokenCache({
    clock,
    sealer: deps.sealer,
    ...grantCacheTimings(config),
    ...(deps.pollIntervalMs !== undefined ? { pollIntervalMs: deps.pollIntervalMs } : {}),
    read: (key) => store.getShared(key),
    write: async (key, sealed, expiresAtMs) => {
      await store.putShared(key, sealed, expiresAtMs - clock());
      return true;
    },
    lock: (key, ttlMs) => store.acquireLock(key, ttlMs),
  });

  return {
    tokenFor(scope, log: () => Logger) {
      const key = `client-credentials:${config.oidc.clientId}:${scope ?? ''}`;
      return cache.get(key, async () => {
        try {
          const response = await oidc.grant('client_credentials', scope ? { scope } : {});
          deps.onGrant?.('issued');
          return {
            accessToken: response.access_token,
            expiresAtMs: accessTokenExpiresAtMs({ accessToken: response.access_token, expiresInSeconds: response.expires_in, nowMs: clock() }),
          };
        } catch (err) {
          // Refused or not: the request cannot go on without the token, and it is the gateway's fault, not the user's.
          const refused = err instanceof GatewayError && err.status < 500;
          deps.onGrant?.(refused ? 'refused' : 'unavailable');
          log().error({ event: 'client_credentials_failed', scope, reason: (err as Error).message }, 'client credentials grant failed');
          throw refused || !(err instanceof GatewayError) ? new ProviderUnavailableError(err) : err;
        }
      });
    },
  };
}
