import { AuthorizationResponseError, ResponseBodyError, WWWAuthenticateChallengeError } from 'openid-client';
import {
  GatewayError,
  InvalidGrantError,
  InvalidProviderResponseError,
  ProviderRejectedClientError,
  ProviderRejectedError,
  ProviderUnavailableError,
} from '../errors.js';

/** Which call failed: the same answer means different things at different endpoints. */
export type OidcOperation = 'code_exchange' | 'refresh' | 'revocation' | 'userinfo' | 'par';

/** What the provider said, when it answered over HTTP at all. */
interface ProviderAnswer {
  readonly status: number;
  readonly error?: string | undefined;
  readonly description?: string | undefined;
}

/**
 * Translates openid-client/oauth4webapi and fetch failures into gateway errors,
 * once, at the edge. An HTTP answer is judged by its status, whatever its body
 * (real providers send `invalid_request`, `unauthorized_client`, an HTML page or
 * nothing at all where Keycloak sends `invalid_grant`):
 * - 400 to a refresh: the grant is dead (InvalidGrantError), whatever the body;
 *   at the code exchange only `invalid_grant` is, the rest is the provider's error;
 * - 401/403 from the token endpoint: our own client credentials are refused;
 * - anything else, and every transport failure: unavailable, so that callers
 *   never mistake a hiccup for a logout.
 */
export function mapOidcError(err: unknown, operation: OidcOperation = 'code_exchange'): GatewayError {
  if (err instanceof GatewayError) return err;
  if (err instanceof AuthorizationResponseError) return new ProviderRejectedError(err.error, err);
  const answer = providerAnswer(err);
  if (answer) return mapAnswer(answer, operation, err);
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
  if (typeof code === 'string' && code.startsWith('OAUTH_')) {
    return new InvalidProviderResponseError((err as Error).message.replace(/[^\x20-\x7e]/g, '').slice(0, 120), err);
  }
  return new ProviderUnavailableError(err);
}

/**
 * mapOidcError, plus what a 401 said in its body when its WWW-Authenticate
 * challenge did not name the error (oauth4webapi stops at the challenge).
 */
export async function mapOidcFailure(err: unknown, operation: OidcOperation): Promise<GatewayError> {
  const mapped = mapOidcError(err, operation);
  if (mapped instanceof ProviderRejectedClientError && err instanceof WWWAuthenticateChallengeError && mapped.providerError === 'unknown_error') {
    const body = await oauthErrorBody(err.response);
    if (body) return new ProviderRejectedClientError({ status: err.status, ...body }, err);
  }
  return mapped;
}

async function oauthErrorBody(response: Response): Promise<{ error: string; description?: string } | undefined> {
  try {
    if (response.bodyUsed) return undefined;
    const body = (await response.json()) as { error?: unknown; error_description?: unknown };
    if (typeof body?.error !== 'string') return undefined;
    return { error: body.error, ...(typeof body.error_description === 'string' ? { description: body.error_description } : {}) };
  } catch {
    return undefined;
  }
}

function mapAnswer(answer: ProviderAnswer, operation: OidcOperation, cause: unknown): GatewayError {
  const { status } = answer;
  const atTokenEndpoint = operation !== 'userinfo';
  if (atTokenEndpoint && (status === 401 || status === 403)) return new ProviderRejectedClientError(answer, cause);
  if (status === 400 && operation === 'refresh') return new InvalidGrantError(cause, answer.error ?? 'no_error_code');
  if (status === 400 && answer.error === 'invalid_grant') return new InvalidGrantError(cause);
  // Another 4xx with an OAuth error body: the provider's considered answer, shown as such.
  if (status >= 400 && status < 500 && answer.error !== undefined && operation !== 'refresh') {
    return new ProviderRejectedError(answer.error, cause);
  }
  if (status === 400) return new ProviderRejectedError(answer.error ?? 'unknown_error', cause);
  // 5xx, 404, 429, a 200 that is not JSON: the provider is not answering properly right now.
  return new ProviderUnavailableError(cause);
}

/**
 * The HTTP answer behind an openid-client failure: an OAuth error body
 * (ResponseBodyError), a WWW-Authenticate challenge (a 401, which
 * oauth4webapi reports before reading the body), or a body that is not an
 * OAuth error at all (openid-client's OAUTH_RESPONSE_IS_NOT_CONFORM / _NOT_JSON,
 * whose cause is the Response).
 */
function providerAnswer(err: unknown): ProviderAnswer | undefined {
  if (err instanceof ResponseBodyError) {
    return { status: err.status, error: err.error, description: err.error_description };
  }
  if (err instanceof WWWAuthenticateChallengeError) {
    const parameters = err.cause[0]?.parameters ?? {};
    return { status: err.status, error: parameters['error'], description: parameters['error_description'] };
  }
  const code = (err as { code?: unknown })?.code;
  const cause = (err as { cause?: unknown })?.cause;
  if ((code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' || code === 'OAUTH_RESPONSE_IS_NOT_JSON') && cause instanceof Response) {
    return { status: cause.status };
  }
  return undefined;
}
