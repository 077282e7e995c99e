import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWK, type JWTVerifyGetKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidLogoutTokenError, ProviderUnavailableError } from '../../../src/errors.js';
import { BACKCHANNEL_LOGOUT_EVENT, createLogoutTokenVerifier } from '../../../src/oidc/logout-token.js';
import { createProviderJwks } from '../../../src/oidc/provider-jwks.js';
import { createMemoryStore } from '../../../src/session/memory-store.js';

const ISSUER = 'https://keycloak.example/realms/test';
const CLIENT_ID = 'bff';
const NOW_S = Date.UTC(2026, 0, 1, 12) / 1000;

interface SigningKey {
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  publicJwk: JWK;
}

async function signingKey(kid: string, alg: 'RS256' | 'ES256' = 'RS256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

async function sign(key: SigningKey, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  const payload = Object.fromEntries(
    Object.entries({
      iss: ISSUER,
      aud: CLIENT_ID,
      iat: NOW_S,
      exp: NOW_S + 120,
      jti: crypto.randomUUID(),
      sid: 'sid-1',
      sub: 'user-1',
      events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
      ...claims,
    }).filter(([, value]) => value !== undefined),
  );
  const protectedHeader = Object.fromEntries(
    Object.entries({ alg: key.publicJwk.alg, kid: key.publicJwk.kid, typ: 'logout+jwt', ...header }).filter(([, v]) => v !== undefined),
  );
  return new SignJWT(payload).setProtectedHeader(protectedHeader as { alg: string }).sign(key.privateKey);
}

let providerKey: SigningKey;
let otherKey: SigningKey;

beforeAll(async () => {
  [providerKey, otherKey] = await Promise.all([signingKey('provider-key'), signingKey('provider-key')]);
});

function verifierWith(keys: JWTVerifyGetKey, nowS = NOW_S) {
  const store = createMemoryStore({ clock: () => nowS * 1000 });
  const marks: { key: string; ttlMs: number }[] = [];
  const verify = createLogoutTokenVerifier({
    issuer: ISSUER,
    clientId: CLIENT_ID,
    keys,
    clock: () => nowS * 1000,
    markOnce: (key, ttlMs) => {
      marks.push({ key, ttlMs });
      return store.markOnce(key, ttlMs);
    },
    clearMark: (key) => store.clearMark(key),
  });
  return { verify, marks, close: () => store.close() };
}

const localKeys = () => createLocalJWKSet({ keys: [providerKey.publicJwk] });

describe('logout token verification', () => {
  it('accepts a token of the provider naming a sid, and keeps its jti until exp plus the skew', async () => {
    const { verify, marks, close } = verifierWith(localKeys());
    const claims = await verify(await sign(providerKey, { jti: 'j-1', exp: NOW_S + 600 }));
    expect(claims).toMatchObject({ iss: ISSUER, sid: 'sid-1', sub: 'user-1', jti: 'j-1' });
    expect(marks).toEqual([{ key: `logout-jti:${ISSUER}:j-1`, ttlMs: (600 + 60) * 1000 }]);
    await close();
  });

  it('accepts the same token again once its mark was released (the logout it carried failed)', async () => {
    const { verify, close } = verifierWith(localKeys());
    const token = await sign(providerKey, { jti: 'j-retry' });
    const first = await verify(token);
    await expect(verify(token)).rejects.toThrow(/already used/);
    await first.release();
    await expect(verify(token)).resolves.toMatchObject({ jti: 'j-retry' });
    await close();
  });

  it('accepts typ JWT, a sub without sid, a sid without sub, and no exp', async () => {
    const { verify, marks, close } = verifierWith(localKeys());
    await expect(verify(await sign(providerKey, {}, { typ: 'JWT' }))).resolves.toMatchObject({ sid: 'sid-1' });
    await expect(verify(await sign(providerKey, { sid: undefined }))).resolves.toEqual(expect.not.objectContaining({ sid: expect.anything() }));
    await expect(verify(await sign(providerKey, { sub: undefined }))).resolves.toMatchObject({ sid: 'sid-1' });
    await expect(verify(await sign(providerKey, { exp: undefined, iat: NOW_S - 60 }))).resolves.toMatchObject({ sid: 'sid-1' });
    // Without exp the token stays acceptable until iat + 5 min; the mark outlives that by the skew.
    expect(marks.at(-1)?.ttlMs).toBe((300 - 60 + 60) * 1000);
    await close();
  });

  it('accepts iat up to 5 minutes old and up to 1 minute ahead', async () => {
    const { verify, close } = verifierWith(localKeys());
    await expect(verify(await sign(providerKey, { iat: NOW_S - 299 }))).resolves.toBeTruthy();
    await expect(verify(await sign(providerKey, { iat: NOW_S + 59 }))).resolves.toBeTruthy();
    await close();
  });

  const refused: [string, () => Promise<string>, RegExp][] = [
    ['signed with another key under the same kid', () => sign(otherKey), /signature/],
    ['signed with a key the provider does not publish', async () => sign(await signingKey('unknown-kid')), /no key/],
    ['for another audience', () => sign(providerKey, { aud: 'someone-else' }), /aud/],
    ['from another issuer', () => sign(providerKey, { iss: 'https://evil.example/realms/test' }), /iss/],
    ['carrying a nonce', () => sign(providerKey, { nonce: 'n-1' }), /nonce/],
    ['without events', () => sign(providerKey, { events: undefined }), /events/],
    ['with events of another kind', () => sign(providerKey, { events: { 'http://schemas.openid.net/event/other': {} } }), /events/],
    ['with the event member not an object', () => sign(providerKey, { events: { [BACKCHANNEL_LOGOUT_EVENT]: 'yes' } }), /events/],
    ['with iat more than 5 minutes old', () => sign(providerKey, { iat: NOW_S - 301, exp: NOW_S + 60 }), /iat/],
    ['with iat more than 1 minute ahead', () => sign(providerKey, { iat: NOW_S + 61 }), /iat/],
    ['without iat', () => sign(providerKey, { iat: undefined }), /iat/],
    ['expired', () => sign(providerKey, { iat: NOW_S - 200, exp: NOW_S - 61 }), /expired/],
    ['with typ at+jwt', () => sign(providerKey, {}, { typ: 'at+jwt' }), /typ/],
    ['without typ', () => sign(providerKey, {}, { typ: undefined }), /typ/],
    ['naming neither sid nor sub', () => sign(providerKey, { sid: undefined, sub: undefined }), /neither/],
    ['with a sid that is not a string', () => sign(providerKey, { sid: 42 }), /sid/],
    ['without jti', () => sign(providerKey, { jti: undefined }), /jti/],
    ['malformed', async () => 'not.a.jwt', /well-formed/],
    ['unsigned (alg none)', async () => `${b64({ alg: 'none', typ: 'logout+jwt' })}.${b64({ iss: ISSUER, aud: CLIENT_ID, iat: NOW_S, jti: 'x', sid: 's', events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } })}.`, /"alg" .*not allowed/],
  ];

  it.each(refused)('refuses a token %s (400 invalid_logout_token)', async (_name, make, reason) => {
    const { verify, close } = verifierWith(localKeys());
    const error = await verify(await make()).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(InvalidLogoutTokenError);
    expect(error).toMatchObject({ status: 400, code: 'invalid_logout_token' });
    expect((error as Error).message).toMatch(reason);
    await close();
  });

  it('refuses a token whose jti was already used, and does not mark a refused token', async () => {
    const { verify, marks, close } = verifierWith(localKeys());
    const token = await sign(providerKey);
    await verify(token);
    await expect(verify(token)).rejects.toThrow(/already used/);
    await expect(verify(await sign(providerKey, { nonce: 'n' }))).rejects.toThrow(InvalidLogoutTokenError);
    expect(marks).toHaveLength(2);
    await close();
  });
});

describe('provider keys', () => {
  let server: Server;
  let served: JWK[] = [];
  let fetches = 0;
  let jwksUri: string;

  beforeAll(async () => {
    server = createServer((_req, res) => {
      fetches += 1;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: served }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/certs`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('fetches the discovered jwks_uri once, then again only for an unknown kid (key rotation)', async () => {
    const first = await signingKey('k1', 'ES256');
    const second = await signingKey('k2', 'ES256');
    served = [first.publicJwk];
    fetches = 0;
    const keys = createProviderJwks({ metadata: () => ({ jwks_uri: jwksUri }), timeoutMs: 2000, cooldownMs: 0 });
    const { verify, close } = verifierWith(keys);
    await verify(await sign(first));
    await verify(await sign(first));
    expect(fetches).toBe(1);
    served = [first.publicJwk, second.publicJwk];
    await expect(verify(await sign(second))).resolves.toMatchObject({ sid: 'sid-1' });
    expect(fetches).toBe(2);
    await close();
  });

  it('does not refetch for unknown kids within the cooldown, so forged kids cannot make it hammer the provider', async () => {
    const known = await signingKey('known', 'ES256');
    served = [known.publicJwk];
    fetches = 0;
    const keys = createProviderJwks({ metadata: () => ({ jwks_uri: jwksUri }), timeoutMs: 2000 });
    const { verify, close } = verifierWith(keys);
    await verify(await sign(known));
    for (let i = 0; i < 5; i += 1) {
      await expect(verify(await sign(await signingKey(`forged-${i}`, 'ES256')))).rejects.toThrow(InvalidLogoutTokenError);
    }
    expect(fetches).toBe(1);
    await close();
  });

  it('answers 503, not 400, while discovery has not loaded or the JWKS cannot be fetched', async () => {
    const notLoaded = verifierWith(createProviderJwks({ metadata: () => undefined, timeoutMs: 2000 }));
    await expect(notLoaded.verify(await sign(providerKey))).rejects.toBeInstanceOf(ProviderUnavailableError);
    served = [];
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadUri = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/certs`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const unreachable = verifierWith(createProviderJwks({ metadata: () => ({ jwks_uri: deadUri }), timeoutMs: 2000 }));
    const error = await unreachable.verify(await sign(providerKey)).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ProviderUnavailableError);
    expect(error).toMatchObject({ status: 503 });
    await Promise.all([notLoaded.close(), unreachable.close()]);
  });
});

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
