import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { BACKCHANNEL_LOGOUT_EVENT, createLogoutTokenVerifier } from '../../../src/oidc/logout-token.js';
import { createProviderJwks } from '../../../src/oidc/provider-jwks.js';
import { createMemoryStore } from '../../../src/session/memory-store.js';
import { CLIENT_ID, ISSUER, PROVIDER_PATHS, discoveryDocument, provider, signingKey, useNockedProvider, type SigningKey } from '../../support/nock-provider.js';

useNockedProvider();

async function logoutToken(key: SigningKey): Promise<string> {
  const nowS = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: ISSUER, aud: CLIENT_ID, iat: nowS, exp: nowS + 120, jti: crypto.randomUUID(), sid: 'sid-1', events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } })
    .setProtectedHeader({ alg: 'RS256', kid: key.publicJwk.kid!, typ: 'logout+jwt' })
    .sign(key.privateKey);
}

function verifier(options: { cooldownMs: number }) {
  const store = createMemoryStore({ clock: Date.now });
  const keys = createProviderJwks({ metadata: () => discoveryDocument(), timeoutMs: 1_500, cooldownMs: options.cooldownMs });
  return createLogoutTokenVerifier({
    issuer: ISSUER,
    clientId: CLIENT_ID,
    keys,
    clock: Date.now,
    markOnce: (key, ttlMs) => store.markOnce(key, ttlMs),
    clearMark: (key) => store.clearMark(key),
  });
}

describe('the provider JWKS (nocked)', () => {
  it('fetches the keys again once for an unknown kid (a rotation), then refuses the token: 400 invalid_logout_token', async () => {
    const [current, unknown] = await Promise.all([signingKey('current'), signingKey('never-published')]);
    // Two fetches and no more: the first load, and the one refetch the unknown kid causes (a third would
    // hit no interceptor, and nock refuses every connection but loopback).
    provider().get(PROVIDER_PATHS.jwks).twice().reply(200, { keys: [current.publicJwk] });
    const verify = verifier({ cooldownMs: 0 });
    await expect(verify(await logoutToken(current))).resolves.toMatchObject({ sid: 'sid-1' });
    await expect(verify(await logoutToken(unknown))).rejects.toMatchObject({ status: 400, code: 'invalid_logout_token' });
  });

  it('accepts a token signed with a key published at the refetch (the provider rotated its keys)', async () => {
    const [old, rotated] = await Promise.all([signingKey('old'), signingKey('rotated')]);
    provider().get(PROVIDER_PATHS.jwks).reply(200, { keys: [old.publicJwk] });
    provider().get(PROVIDER_PATHS.jwks).reply(200, { keys: [old.publicJwk, rotated.publicJwk] });
    const verify = verifier({ cooldownMs: 0 });
    await verify(await logoutToken(old));
    await expect(verify(await logoutToken(rotated))).resolves.toMatchObject({ sid: 'sid-1' });
  });

  it.each([
    ['answers 500', () => provider().get(PROVIDER_PATHS.jwks).reply(500, 'down')],
    ['answers HTML', () => provider().get(PROVIDER_PATHS.jwks).reply(200, '<html>maintenance</html>', { 'content-type': 'text/html' })],
    ['never answers', () => provider().get(PROVIDER_PATHS.jwks).delay(15_000).reply(200, { keys: [] })],
  ])('a JWKS endpoint that %s leaves the token unverified: 503, so the provider retries it', async (_name, arrange) => {
    arrange();
    const verify = verifier({ cooldownMs: 0 });
    await expect(verify(await logoutToken(await signingKey('k')))).rejects.toMatchObject({ status: 503 });
  });
});
