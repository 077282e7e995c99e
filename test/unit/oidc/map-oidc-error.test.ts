import { ResponseBodyError, WWWAuthenticateChallengeError } from 'openid-client';
import { describe, expect, it } from 'vitest';
import {
  InvalidGrantError,
  ProviderRejectedClientError,
  ProviderRejectedError,
  ProviderUnavailableError,
} from '../../../src/errors.js';
import { mapOidcError, mapOidcFailure, type OidcOperation } from '../../../src/oidc/map-oidc-error.js';

/** What oauth4webapi throws for a JSON OAuth error body. */
const bodyError = (status: number, error: string, description?: string) =>
  new ResponseBodyError('server responded with an error in the response body', {
    cause: { error, ...(description ? { error_description: description } : {}) },
    response: new Response(null, { status }),
  });

/** What openid-client throws for an answer that is not an OAuth error body (empty, HTML): its cause is the Response. */
const notConform = (status: number) =>
  Object.assign(new Error('unexpected HTTP response status code'), { code: 'OAUTH_RESPONSE_IS_NOT_CONFORM', cause: new Response(null, { status }) });

const kindOf = (err: unknown, operation: OidcOperation) => mapOidcError(err, operation).constructor.name;

describe('mapOidcError', () => {
  it('at the PAR endpoint: 401/403 is our client refused, another 4xx the provider\'s answer, 5xx and timeouts unavailable', () => {
    expect(kindOf(bodyError(401, 'invalid_client'), 'par')).toBe(ProviderRejectedClientError.name);
    expect(kindOf(notConform(403), 'par')).toBe(ProviderRejectedClientError.name);
    expect(kindOf(bodyError(400, 'invalid_request'), 'par')).toBe(ProviderRejectedError.name);
    expect(kindOf(notConform(503), 'par')).toBe(ProviderUnavailableError.name);
    expect(kindOf(Object.assign(new Error('timed out'), { name: 'TimeoutError' }), 'par')).toBe(ProviderUnavailableError.name);
  });

  it('takes any 400 to a refresh for a refused grant, whatever the body', () => {
    for (const err of [bodyError(400, 'invalid_grant'), bodyError(400, 'invalid_request'), bodyError(400, 'unauthorized_client'), notConform(400)]) {
      expect(mapOidcError(err, 'refresh')).toBeInstanceOf(InvalidGrantError);
    }
    expect((mapOidcError(bodyError(400, 'invalid_request'), 'refresh') as InvalidGrantError).providerError).toBe('invalid_request');
    expect((mapOidcError(notConform(400), 'refresh') as InvalidGrantError).providerError).toBe('no_error_code');
  });

  it('at the code exchange, keeps invalid_grant apart from the provider\'s other 400 errors', () => {
    expect(kindOf(bodyError(400, 'invalid_grant'), 'code_exchange')).toBe(InvalidGrantError.name);
    expect(kindOf(bodyError(400, 'invalid_request'), 'code_exchange')).toBe(ProviderRejectedError.name);
    expect(kindOf(notConform(400), 'code_exchange')).toBe(ProviderRejectedError.name);
  });

  it('takes a 401/403 from the token endpoint for our client credentials refused, with the provider\'s words', () => {
    for (const operation of ['code_exchange', 'refresh', 'revocation'] as const) {
      const mapped = mapOidcError(bodyError(401, 'invalid_client', 'bad secret'), operation);
      expect(mapped).toBeInstanceOf(ProviderRejectedClientError);
      expect(mapped).toMatchObject({ status: 502, code: 'provider_rejected_client' });
      expect((mapped as ProviderRejectedClientError).logFields()).toEqual({
        provider_status: 401,
        provider_error: 'invalid_client',
        provider_error_description: 'bad secret',
      });
      expect(kindOf(notConform(403), operation)).toBe(ProviderRejectedClientError.name);
    }
    // At userinfo a 401 is about the access token, not about us.
    expect(kindOf(bodyError(401, 'invalid_token'), 'userinfo')).not.toBe(ProviderRejectedClientError.name);
  });

  it('judges non-JSON answers by status: 5xx, 404, 429 are unavailable, never a refused grant', () => {
    for (const status of [500, 502, 503, 404, 429]) {
      expect(mapOidcError(notConform(status), 'refresh')).toBeInstanceOf(ProviderUnavailableError);
      expect(mapOidcError(notConform(status), 'code_exchange')).toBeInstanceOf(ProviderUnavailableError);
    }
    expect(mapOidcError(bodyError(503, 'temporarily_unavailable'), 'refresh')).toBeInstanceOf(ProviderUnavailableError);
  });
});

describe('mapOidcFailure', () => {
  it("reads the error from a 401's body when its WWW-Authenticate challenge does not name it (LemonLDAP::NG)", async () => {
    const response = new Response(JSON.stringify({ error: 'invalid_client', error_description: 'Bad client secret' }), {
      status: 401,
      headers: { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="x"' },
    });
    const err = new WWWAuthenticateChallengeError('server responded with a challenge in the WWW-Authenticate HTTP Header', {
      cause: [{ scheme: 'basic', parameters: { realm: 'x' } }],
      response,
    });
    const mapped = await mapOidcFailure(err, 'code_exchange');
    expect(mapped).toBeInstanceOf(ProviderRejectedClientError);
    expect((mapped as ProviderRejectedClientError).logFields()).toMatchObject({ provider_error: 'invalid_client', provider_error_description: 'Bad client secret' });
  });
});
