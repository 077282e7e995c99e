import { createRemoteJWKSet, customFetch, type FetchImplementation, type JWTVerifyGetKey, type RemoteJWKSet } from 'jose';
import { ProviderUnavailableError } from '../errors.js';

export interface ProviderJwksDeps {
  /** The provider's discovery metadata; undefined until discovery has loaded. */
  metadata: () => { jwks_uri?: string } | undefined;
  /** Bound on each JWKS fetch, in milliseconds (OIDC_TIMEOUT_MS). */
  timeoutMs: number;
  /**
   * Least time between two fetches caused by an unknown `kid`, in ms. Bounds
   * what forged tokens with random `kid`s can make us fetch. Default 30 000.
   */
  cooldownMs?: number;
  /** Keys older than this are fetched again before use, in ms. Default 600 000. */
  cacheMaxAgeMs?: number;
  fetch?: FetchImplementation;
}

/**
 * The provider's signing keys from the discovered `jwks_uri` (jose's
 * createRemoteJWKSet): cached, fetched again when a token names an unknown
 * `kid` (key rotation). Throws ProviderUnavailableError until discovery has loaded.
 */
export function createProviderJwks(deps: ProviderJwksDeps): JWTVerifyGetKey {
  let current: { uri: string; keys: RemoteJWKSet } | undefined;

  const keysFor = (uri: string): RemoteJWKSet => {
    // Discovery may be reloaded with another jwks_uri; one cache per URI.
    if (current?.uri !== uri) {
      current = {
        uri,
        keys: createRemoteJWKSet(new URL(uri), {
          timeoutDuration: deps.timeoutMs,
          cooldownDuration: deps.cooldownMs ?? 30_000,
          cacheMaxAge: deps.cacheMaxAgeMs ?? 600_000,
          ...(deps.fetch ? { [customFetch]: deps.fetch } : {}),
        }),
      };
    }
    return current.keys;
  };

  return (header, token) => {
    const uri = deps.metadata()?.jwks_uri;
    if (!uri) throw new ProviderUnavailableError(new Error('discovery has not completed or names no jwks_uri'));
    return keysFor(uri)(header, token);
  };
}
