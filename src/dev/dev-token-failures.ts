import type { Context } from 'koa';

/**
 * Token endpoint answers of real providers other than Keycloak, for tests
 * (providers.md):
 * - `invalid_request`: 400 `invalid_request` (LemonLDAP::NG, an expired refresh token);
 * - `empty_400`: 400 with an empty body (Glewlwyd, a revoked refresh token);
 * - `invalid_client`: 401 `invalid_client` with a WWW-Authenticate challenge
 *   that does not name the error (LemonLDAP::NG, a wrong client secret);
 * - `unauthorized_client`: 403 `unauthorized_client` (Glewlwyd);
 * - `http_503`: 503 with an HTML page (a proxy in front of the provider).
 */
export type TokenEndpointFailure = 'invalid_request' | 'empty_400' | 'invalid_client' | 'unauthorized_client' | 'http_503';

/** Where a refresh grant refused through oidc-provider's hook leaves the shape to answer in. */
export const SIMULATED_ANSWER_STATE = 'devSimulatedTokenAnswer';

/** Replaces whatever the provider answered with the simulated one. */
export function answerAs(ctx: Context, failure: TokenEndpointFailure): void {
  ctx.remove('WWW-Authenticate');
  ctx.set('Cache-Control', 'no-store');
  switch (failure) {
    case 'invalid_request':
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'Refresh token is expired (simulated)' };
      return;
    case 'empty_400':
      ctx.status = 400;
      ctx.body = '';
      ctx.remove('Content-Type');
      return;
    case 'invalid_client':
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Basic realm="simulated provider"');
      ctx.body = { error: 'invalid_client', error_description: 'Bad client secret (simulated)' };
      return;
    case 'unauthorized_client':
      ctx.status = 403;
      ctx.body = { error: 'unauthorized_client', error_description: 'Client is not allowed this grant (simulated)' };
      return;
    case 'http_503':
      ctx.status = 503;
      ctx.type = 'html';
      ctx.body = '<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>';
      return;
  }
}
