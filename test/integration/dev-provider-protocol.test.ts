import { generateKeyPairSync } from 'node:crypto';
import { exportJWK, importJWK, type JWK } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, describe, expect, it } from 'vitest';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';

const started: TestIdentityProvider[] = [];
afterAll(() => Promise.all(started.map((idp) => idp.close())));

async function provider(options: Parameters<typeof startIdentityProvider>[0]): Promise<TestIdentityProvider> {
  const idp = await startIdentityProvider(options);
  started.push(idp);
  return idp;
}

async function discoveryOf(idp: TestIdentityProvider): Promise<Record<string, unknown>> {
  return (await (await fetch(idp.discoveryUrl)).json()) as Record<string, unknown>;
}

describe('dev identity provider: PAR and private_key_jwt as Keycloak offers them', () => {
  it('offers PAR at Keycloak\'s path by default without requiring it; required and off on demand', async () => {
    const [offered, required, off] = await Promise.all([
      provider({}),
      provider({ pushedAuthorizationRequests: 'required' }),
      provider({ pushedAuthorizationRequests: 'off' }),
    ]);
    const d = await discoveryOf(offered);
    expect(d['pushed_authorization_request_endpoint']).toBe(`${offered.issuer}/protocol/openid-connect/ext/par/request`);
    expect(d['require_pushed_authorization_requests']).not.toBe(true);
    expect((await discoveryOf(required))['require_pushed_authorization_requests']).toBe(true);
    expect((await discoveryOf(off))['pushed_authorization_request_endpoint']).toBeUndefined();
  });

  it('requires PAR of one client only (Keycloak\'s per-client switch): its plain authorization request is refused', async () => {
    const idp = await provider({ redirectUris: ['http://127.0.0.1:1/cb'] });
    await idp.updateClient({ require_pushed_authorization_requests: true });
    const config = new oidc.Configuration((await discoveryOf(idp)) as oidc.ServerMetadata, 'bff', idp.client.client_secret);
    oidc.allowInsecureRequests(config);
    const params = { redirect_uri: 'http://127.0.0.1:1/cb', scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' };
    const plain = await fetch(oidc.buildAuthorizationUrl(config, params), { redirect: 'manual' });
    expect(new URL(plain.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
    const pushed = await oidc.buildAuthorizationUrlWithPAR(config, params);
    expect(pushed.searchParams.has('request_uri')).toBe(true);
  });

  it('authenticates a private_key_jwt client by its registered public key, and refuses another key', async () => {
    const idp = await provider({ clientSecret: null, redirectUris: ['http://127.0.0.1:1/cb'] });
    const good = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const publicJwk: JWK = { ...(await exportJWK(good.publicKey)), kid: 'k1' };
    await idp.updateClient({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicJwk] } });
    const metadata = (await discoveryOf(idp)) as oidc.ServerMetadata;
    const push = async (key: oidc.CryptoKey) => {
      const config = new oidc.Configuration(metadata, 'bff', undefined, oidc.PrivateKeyJwt({ key, kid: 'k1' }));
      oidc.allowInsecureRequests(config);
      return oidc.buildAuthorizationUrlWithPAR(config, { redirect_uri: 'http://127.0.0.1:1/cb', scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' });
    };
    const goodKey = (await importJWK(good.privateKey.export({ format: 'jwk' }) as JWK, 'ES256')) as oidc.CryptoKey;
    expect((await push(goodKey)).searchParams.has('request_uri')).toBe(true);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const otherKey = (await importJWK(other.privateKey.export({ format: 'jwk' }) as JWK, 'ES256')) as oidc.CryptoKey;
    await expect(push(otherKey)).rejects.toMatchObject({ error: 'invalid_client' });
  });
});
