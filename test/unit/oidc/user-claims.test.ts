import { describe, expect, it } from 'vitest';
import { envSchema } from '../../../src/config/env-schema.js';
import { parseRolesClaims } from '../../../src/config/parse-roles-claims.js';
import { accessTokenExpiresAtMs, buildUserInfo } from '../../../src/oidc/user-claims.js';

const rolesClaims = (text: string = envSchema.OIDC_ROLES_CLAIMS.default, clientId = 'bff') => parseRolesClaims(text, clientId).paths;

const jwt = (payload: object) =>
  `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;

describe('buildUserInfo', () => {
  it('overlays userinfo on ID-token claims, drops protocol claims and merges Keycloak roles sorted and unique', () => {
    const user = buildUserInfo({
      rolesClaims: rolesClaims(),
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
    expect(buildUserInfo({ rolesClaims: rolesClaims(), idTokenClaims: { sub: 'u' }, accessToken: 'opaque' }).roles).toEqual([]);
  });

  it("keeps a provider's own top-level roles claim (Glewlwyd) and adds it to the union", () => {
    const user = buildUserInfo({ rolesClaims: rolesClaims(), idTokenClaims: { sub: 'u', roles: ['writer', 'reader'] }, accessToken: 'opaque' });
    expect(user['roles']).toEqual(['reader', 'writer']);
  });

  it("never replaces a provider's own roles claim with an empty list when OIDC_ROLES_CLAIMS does not name it", () => {
    const user = buildUserInfo({ rolesClaims: rolesClaims('groups'), idTokenClaims: { sub: 'u', roles: ['reader'] } });
    expect(user['roles']).toEqual(['reader']);
  });

  it('reads the claims OIDC_ROLES_CLAIMS names, from userinfo and a JWT access token too (LemonLDAP::NG groups)', () => {
    const user = buildUserInfo({
      rolesClaims: rolesClaims('groups,realm_access.roles'),
      idTokenClaims: { sub: 'u' },
      userinfo: { sub: 'u', groups: ['timelords', 'users'] },
      accessToken: jwt({ groups: 'earthlings', realm_access: { roles: ['kc'] }, roles: ['not-named'] }),
    });
    expect(user['roles']).toEqual(['earthlings', 'kc', 'timelords', 'users']);
  });

  it('takes {client_id} as one key, so a client id with dots still finds its client roles', () => {
    const user = buildUserInfo({
      rolesClaims: rolesClaims(undefined, 'app.example'),
      idTokenClaims: { sub: 'u', resource_access: { 'app.example': { roles: ['editor'] }, app: { example: { roles: ['wrong'] } } } },
    });
    expect(user['roles']).toEqual(['editor']);
  });
});

describe('accessTokenExpiresAtMs', () => {
  it('prefers expires_in, then the JWT exp, else unknown', () => {
    expect(accessTokenExpiresAtMs({ accessToken: 'x', expiresInSeconds: 60, nowMs: 1000 })).toBe(61_000);
    expect(accessTokenExpiresAtMs({ accessToken: jwt({ exp: 100 }), nowMs: 0 })).toBe(100_000);
    expect(accessTokenExpiresAtMs({ accessToken: 'opaque', nowMs: 0 })).toBeUndefined();
  });
});
