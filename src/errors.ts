/**
 * Every failure the gateway answers with. `code` is stable (clients switch on
 * it); `expose` says whether `message` may reach the client (5xx internals
 * never do). Rendered in one place: src/http/error-middleware.ts.
 */
export class GatewayError extends Error {
  readonly expose: boolean;
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown; expose?: boolean },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.expose = options?.expose ?? status < 500;
  }
}

export class UnauthenticatedError extends GatewayError {
  constructor(message = 'No valid session; log in first.') {
    super(401, 'unauthenticated', message);
  }
}

export class CsrfRequiredError extends GatewayError {
  constructor() {
    super(403, 'csrf_required', 'This request needs the header X-CSRF: 1.');
  }
}

export class OriginMismatchError extends GatewayError {
  constructor() {
    super(403, 'origin_mismatch', 'The Origin of this request is not this gateway.');
  }
}

/** Bad input at the callback or logout endpoints (state, binding, provider error=). */
export class InvalidRequestError extends GatewayError {
  constructor(code: string, message: string, cause?: unknown) {
    super(400, code, message, { cause, expose: true });
  }
}

/** The session store did not answer (see session/store-error.ts): 503, never "no session". */
export class StoreUnavailableError extends GatewayError {
  constructor(cause?: unknown) {
    super(503, 'store_unavailable', 'The session store is unavailable; try again shortly.', { cause, expose: true });
  }
}

export class ProviderUnavailableError extends GatewayError {
  constructor(cause?: unknown) {
    super(503, 'provider_unavailable', 'The identity provider cannot be reached; try again shortly.', { cause, expose: true });
  }
}

export class RefreshUnavailableError extends GatewayError {
  constructor(cause?: unknown) {
    super(503, 'refresh_unavailable', 'The access token could not be refreshed right now; try again shortly.', {
      cause,
      expose: true,
    });
  }
}

export class UpstreamUnreachableError extends GatewayError {
  constructor(cause?: unknown) {
    super(502, 'upstream_unreachable', 'The upstream API cannot be reached.', { cause, expose: true });
  }
}

export class UpstreamTimeoutError extends GatewayError {
  constructor(cause?: unknown) {
    super(504, 'upstream_timeout', 'The upstream API did not answer in time.', { cause, expose: true });
  }
}

export class NotFoundError extends GatewayError {
  constructor(message = 'Nothing here.') {
    super(404, 'not_found', message);
  }
}

/** A back-channel logout token that fails verification (Back-Channel Logout 1.0 §2.8: answer 400). */
export class InvalidLogoutTokenError extends GatewayError {
  constructor(reason: string, cause?: unknown) {
    super(400, 'invalid_logout_token', `The logout token was refused: ${reason}.`, { cause, expose: true });
  }
}

/** A request body above the route's limit; refused before more than the limit is read. */
export class PayloadTooLargeError extends GatewayError {
  constructor(limitBytes: number) {
    super(413, 'payload_too_large', `The request body is larger than ${limitBytes} bytes.`);
  }
}

export class UnsupportedMediaTypeError extends GatewayError {
  constructor(expected: string) {
    super(415, 'unsupported_media_type', `The request body must be ${expected}.`);
  }
}

/**
 * The provider refused the grant (code reused, refresh token revoked or expired).
 * At a refresh, any 400 answer counts (providers word it differently, or send
 * no body at all); `providerError` is what it said, if anything.
 */
export class InvalidGrantError extends GatewayError {
  readonly providerError: string;
  constructor(cause?: unknown, providerError = 'invalid_grant') {
    super(400, 'invalid_grant', 'The identity provider refused the grant; log in again.', { cause, expose: true });
    this.providerError = oauthErrorCode(providerError);
  }
}

/**
 * The provider refused the gateway's own client credentials (a 401 or 403 from
 * its token endpoint: `invalid_client`, `unauthorized_client`). The operator's
 * problem, not the user's: 502, logged at error level with the provider's answer.
 */
export class ProviderRejectedClientError extends GatewayError {
  readonly providerError: string;
  readonly providerErrorDescription: string | undefined;
  readonly providerStatus: number;
  constructor(answer: { status: number; error?: string | undefined; description?: string | undefined }, cause?: unknown) {
    super(502, 'provider_rejected_client', 'The identity provider refused this gateway\'s client credentials; the operator has been told.', {
      cause,
      expose: true,
    });
    this.providerStatus = answer.status;
    this.providerError = oauthErrorCode(answer.error ?? '');
    this.providerErrorDescription = answer.description === undefined ? undefined : printable(answer.description, 200);
  }

  /** Log fields naming the provider's answer (never a token: error codes and descriptions only). */
  logFields(): Record<string, unknown> {
    return {
      provider_status: this.providerStatus,
      provider_error: this.providerError,
      ...(this.providerErrorDescription !== undefined ? { provider_error_description: this.providerErrorDescription } : {}),
    };
  }
}

/** The provider answered with an OAuth error (error= at the callback, a 4xx at the token endpoint). */
export class ProviderRejectedError extends GatewayError {
  readonly providerError: string;
  constructor(providerError: string, cause?: unknown) {
    // Echoed to the user: keep it to RFC 6749's error-code charset.
    const code = oauthErrorCode(providerError);
    super(400, 'provider_error', `The identity provider answered "${code}"; the login did not complete.`, { cause, expose: true });
    this.providerError = code;
  }
}

/** The provider's answer failed validation (ID token signature, iss, aud, nonce, expiry). */
export class InvalidProviderResponseError extends GatewayError {
  constructor(detail: string, cause?: unknown) {
    super(400, 'invalid_callback', `The login could not be verified: ${detail}.`, { cause, expose: true });
  }
}

/** An OAuth error code as RFC 6749 allows it (echoed to users and logs), or `unknown_error`. */
function oauthErrorCode(text: string): string {
  return text.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '').slice(0, 64) || 'unknown_error';
}

function printable(text: string, max: number): string {
  return text.replace(/[^\x20-\x7e]/g, '').slice(0, max);
}

/** A route's role check failed: the user is known (not 401) but may not call this API. */
export class ForbiddenError extends GatewayError {
  constructor(message = 'Your roles do not allow this request.') {
    super(403, 'forbidden', message);
  }
}

/** The provider refused to exchange the user's token for one meant for the route's API (RFC 8693). */
export class TokenExchangeRefusedError extends GatewayError {
  constructor(cause?: unknown) {
    super(403, 'token_exchange_refused', 'The identity provider refused a token for this API.', { cause, expose: true });
  }
}

/** What a step-up login must achieve (RFC 9470 §3): any one of `acrValues`, and/or an authentication at most `maxAgeSeconds` old. */
export interface StepUpChallenge {
  readonly acrValues?: readonly string[];
  readonly maxAgeSeconds?: number;
}

/**
 * The session is valid but its authentication is too weak or too old for this
 * route (RFC 9470 `insufficient_user_authentication`), or the upstream said so.
 * Rendered with a WWW-Authenticate challenge and a `login_url` that asks the
 * provider for exactly this (src/http/step-up-answer.ts).
 */
export class StepUpRequiredError extends GatewayError {
  constructor(
    readonly challenge: StepUpChallenge,
    message = 'A stronger or more recent login is needed for this request; follow login_url.',
  ) {
    super(401, 'step_up_required', message);
  }
}

/** The provider's ID token does not carry any of the acr values the login asked for (it ignored acr_values). */
export class AcrNotSatisfiedError extends GatewayError {
  constructor() {
    // A fixed text: the values asked for come from /auth/login's query, which a crafted link chooses;
    // the warning log line names them and what the provider gave.
    super(400, 'acr_not_satisfied', 'The identity provider did not authenticate you at the level asked for; your previous session, if any, is unchanged.');
  }
}
