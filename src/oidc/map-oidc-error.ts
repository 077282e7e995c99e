import { AuthorizationResponseError, ResponseBodyError } from 'openid-client';
import {
  GatewayError,
  InvalidGrantError,
  InvalidProviderResponseError,
  ProviderRejectedError,
  ProviderUnavailableError,
} from '../errors.js';

/**
 * Translates openid-client/oauth4webapi and fetch failures into gateway errors,
 * once, at the edge. Only a definite `invalid_grant` means "the grant is dead";
 * anything that smells of transport or a 5xx is "unavailable" so that callers
 * never mistake a hiccup for a logout.
 */
export function mapOidcError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  if (err instanceof AuthorizationResponseError) return new ProviderRejectedError(err.error, err);
  if (err instanceof ResponseBodyError) {
    if (err.status >= 500) return new ProviderUnavailableError(err);
    if (err.error === 'invalid_grant') return new InvalidGrantError(err);
    return new ProviderRejectedError(err.error, err);
  }
  const code = (err as { code?: unknown })?.code;
  const name = (err as { name?: unknown })?.name;
  if (name === 'TimeoutError' || name === 'AbortError' || err instanceof TypeError) {
    // fetch() rejects with TypeError("fetch failed") on connection errors.
    return new ProviderUnavailableError(err);
  }
  if (code === 'OAUTH_TIMEOUT' || code === 'OAUTH_ABORT') {
    // openid-client's own wrapping of an OIDC_TIMEOUT_MS timeout (the DOMException is its cause).
    return new ProviderUnavailableError(err);
  }
  if (code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' || code === 'OAUTH_RESPONSE_IS_NOT_JSON') {
    // A non-OAuth answer (HTML error page, 502 from a proxy in front of the provider).
    return new ProviderUnavailableError(err);
  }
  if (typeof code === 'string' && code.startsWith('OAUTH_')) {
    return new InvalidProviderResponseError((err as Error).message.replace(/[^\x20-\x7e]/g, '').slice(0, 120), err);
  }
  return new ProviderUnavailableError(err);
}
