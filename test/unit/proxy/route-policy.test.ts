import { describe, expect, it } from 'vitest';
import { roleSetOf, rolesAllow } from '../../../src/proxy/route-policy.js';
import type { SessionRecord } from '../../../src/session/session-store.js';

const jwt = (payload: object) => `e30.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;

function session(accessTokenClaims: object, userInfo: Record<string, unknown> = { roles: ['admin', 'user', 'bff-admin'] }): SessionRecord {
  return {
    id: 'id',
    sub: 'sub',
    user_info: userInfo,
    tokens: { access_token: jwt(accessTokenClaims), token_type: 'Bearer' },
    created_at_ms: 0,
    expires_at_ms: Number.MAX_SAFE_INTEGER,
  };
}

describe('roleSetOf', () => {
  it('holds the roles /auth/me reports plus every client role as client:role', () => {
    const roles = roleSetOf(session({ resource_access: { bff: { roles: ['bff-admin'] }, backoffice: { roles: ['ops'] } } }));
    expect([...roles].sort()).toEqual(['admin', 'backoffice:ops', 'bff-admin', 'bff:bff-admin', 'user']);
  });

  it('is computed once per session record, not per request', () => {
    const record = session({});
    expect(roleSetOf(record)).toBe(roleSetOf(record));
    expect(roleSetOf(session({}))).not.toBe(roleSetOf(record));
  });

  it('copes with opaque access tokens and odd claims', () => {
    const record = { ...session({}, { roles: ['a', 7] }), tokens: { access_token: 'opaque', token_type: 'Bearer' } };
    expect([...roleSetOf(record)]).toEqual(['a']);
  });
});

describe('rolesAllow', () => {
  const held = new Set(['admin', 'user', 'bff:bff-admin']);
  it('needs one of anyOf and every one of allOf', () => {
    expect(rolesAllow({ anyOf: ['auditor', 'bff:bff-admin'] }, held)).toBe(true);
    expect(rolesAllow({ anyOf: ['auditor'] }, held)).toBe(false);
    expect(rolesAllow({ allOf: ['admin', 'user'] }, held)).toBe(true);
    expect(rolesAllow({ allOf: ['admin', 'auditor'] }, held)).toBe(false);
    expect(rolesAllow({ anyOf: ['user'], allOf: ['admin', 'auditor'] }, held)).toBe(false);
  });
});
