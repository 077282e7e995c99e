import { describe, expect, it } from 'vitest';
import { accessTokenExpiresAtMs, buildUserInfo } from '../../../src/oidc/user-claims.js';

const jwt = (payload: object) =>
  `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;

describe('buildUserInfo', () => {
  it('overlays userinfo on ID-token claims, drops protocol claims and merges Keycloak roles sorted and unique', () => {
    const user = buildUserInfo({
      clientId: 'bff',
      idTokenClaims: { sub: 'u1', iss: 'x', aud: 'bff', nonce: 'n', sid: 's', name: 'Old', realm_access: { roles: ['user', 'admin'] } },
      userinfo: { sub: 'u1', name: 'New', email: 'a@b.c', resource_access: { bff: { roles: ['editor'] }, other: { roles: ['nope'] } } },
      accessToken: jwt({ realm_access: { roles: ['admin', 'offline_access'] } }),
    });
    expect(user).toEqual({
      sub: 'u1',
      name: 'New',
      email: 'a@b.c',
      realm_access: { roles: ['user', 'admin'] },
      resource_access: { bff: { roles: ['editor'] }, other: { roles: ['nope'] } },
      roles: ['admin', 'editor', 'offline_access', 'user'],
    });
  });

  it('reads no roles from an opaque access token', () => {
    expect(buildUserInfo({ clientId: 'bff', idTokenClaims: { sub: 'u' }, accessToken: 'opaque' }).roles).toEqual([]);
  });
});

describe('accessTokenExpiresAtMs', () => {
  it('prefers expires_in, then the JWT exp, else unknown', () => {
    expect(accessTokenExpiresAtMs({ accessToken: 'x', expiresInSeconds: 60, nowMs: 1000 })).toBe(61_000);
    expect(accessTokenExpiresAtMs({ accessToken: jwt({ exp: 100 }), nowMs: 0 })).toBe(100_000);
    expect(accessTokenExpiresAtMs({ accessToken: 'opaque', nowMs: 0 })).toBeUndefined();
  });
});
