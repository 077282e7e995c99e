import { createRemoteJWKSet, customFetch, errors, type FetchImplementation, type JWTVerifyGetKey, type RemoteJWKSet } from 'jose';
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
 * Key lookup for tokens anyone can send (logout tokens): an unknown `kid`
 * refetches the key set at most once per cooldown. `refetchingOnce` is for
 * tokens that came from the provider itself over our own back channel (ID
 * tokens from the token endpoint): an unknown `kid` always refetches the key
 * set once (key rotation), then the token is refused.
 */
export type ProviderJwks = JWTVerifyGetKey & { readonly refetchingOnce: JWTVerifyGetKey };

/**
 * The provider's signing keys from the discovered `jwks_uri` (jose's
 * createRemoteJWKSet): cached, fetched again when a token names an unknown
 * `kid` (key rotation). Throws ProviderUnavailableError until discovery has loaded.
 */
export function createProviderJwks(deps: ProviderJwksDeps): ProviderJwks {
  let current: { uri: string; keys: RemoteJWKSet } | undefined;
  let fetches = 0;
  const fetchImpl: FetchImplementation = deps.fetch ?? ((url, options) => fetch(url, options));
  const countingFetch: FetchImplementation = (url, options) => {
    fetches += 1;
    return fetchImpl(url, options);
  };

  const keysFor = (uri: string): RemoteJWKSet => {
    // Discovery may be reloaded with another jwks_uri; one cache per URI.
    if (current?.uri !== uri) {
      current = {
        uri,
        keys: createRemoteJWKSet(new URL(uri), {
          timeoutDuration: deps.timeoutMs,
          cooldownDuration: deps.cooldownMs ?? 30_000,
          cacheMaxAge: deps.cacheMaxAgeMs ?? 600_000,
          [customFetch]: countingFetch,
        }),
      };
    }
    return current.keys;
  };

  const currentKeys = (): RemoteJWKSet => {
    const uri = deps.metadata()?.jwks_uri;
    if (!uri) throw new ProviderUnavailableError(new Error('discovery has not completed or names no jwks_uri'));
    return keysFor(uri);
  };

  const getKey: JWTVerifyGetKey = (header, token) => currentKeys()(header, token);
  const refetchingOnce: JWTVerifyGetKey = async (header, token) => {
    const keys = currentKeys();
    const fetchesBefore = fetches;
    try {
      return await keys(header, token);
    } catch (err) {
      // jose refetches by itself outside its cooldown: then that was the one refetch.
      if (!(err instanceof errors.JWKSNoMatchingKey) || fetches !== fetchesBefore) throw err;
      await keys.reload();
      return keys(header, token);
    }
  };
  return Object.assign(getKey, { refetchingOnce });
}
