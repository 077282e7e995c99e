import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { RoutePolicy } from '../../../src/config/config.js';
import { createRouteAccess, createRouteAccessNow, roleSetOf, rolesAllow, type RouteAccess } from '../../../src/proxy/route-policy.js';
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

describe('a policy for a session already in hand (routeAccessNow)', () => {
  const now = 1_700_000_000_000;
  const clock = () => now;
  const record = { ...session({}), acr: 'silver', auth_time_ms: now - 120_000, user_info: { roles: ['admin'], email: 'ada@example.com' } };
  const plain: RoutePolicy = { auth: 'required', token: { type: 'user' }, csrf: true, websocket: false, stripPrefix: true, userHeaders: [], dpop: false, defaultAccess: false };
  const refresher = (due: boolean) => ({ needsRefresh: () => due, ensureFresh: async (s: SessionRecord) => s });
  // The promise path, for the same session: what routeAccessNow must agree with.
  const resolved = (policy: RoutePolicy) =>
    createRouteAccess({ refresher: refresher(false) as never, tokens: { tokenFor: async (t, s) => (t.type === 'user' ? s?.tokens.access_token : t.type === 'none' ? undefined : 'exchanged') }, clock })(
      policy,
      { load: async () => record, require: async () => record },
      () => pino({ level: 'silent' }),
    ).then(
      (access): RouteAccess | Error => access,
      (err: Error) => err,
    );
  const inHand = (policy: RoutePolicy, due = false) => createRouteAccessNow({ refresher: refresher(due), clock })(policy, record);

  it.each<[string, Partial<RoutePolicy>]>([
    ['a role it holds', { roles: { anyOf: ['admin'] } }],
    ['the X-User-* headers', { roles: { allOf: ['admin'] }, userHeaders: ['X-User-Sub', 'X-User-Email', 'X-User-Roles'] }],
    ['an acr and a login age it meets', { acr: ['silver'], maxAuthAgeSeconds: 300 }],
    ['no token', { token: { type: 'none' }, auth: 'optional' }],
    ["an optional login and the user's token", { auth: 'optional' }],
  ])('grants what the promise path grants: %s', async (_, change) => {
    const policy = { ...plain, ...change };
    const granted = inHand(policy);
    expect(granted).toBeDefined();
    expect(granted).toEqual(await resolved(policy));
  });

  it("sends the session's own token as its Authorization, and a refreshed record's new one", () => {
    expect(inHand(plain)!.authorization).toBe(`Bearer ${record.tokens.access_token}`);
    const refreshed = { ...record, tokens: { ...record.tokens, access_token: 'after.the.refresh' } };
    expect(createRouteAccessNow({ refresher: refresher(false), clock })(plain, refreshed)!.authorization).toBe('Bearer after.the.refresh');
  });

  it.each<[string, Partial<RoutePolicy>, boolean?]>([
    ['a role it lacks (403)', { roles: { anyOf: ['auditor'] } }],
    ['an acr it does not meet (step-up)', { acr: ['gold'] }],
    ['a login too old (step-up)', { maxAuthAgeSeconds: 60 }],
    ['a token exchanged for another audience', { token: { type: 'exchange', audience: 'orders' } }],
    ["the gateway's own token", { token: { type: 'client' } }],
    ['a DPoP route and a session without a key', { dpop: true }],
    ['a refresh due', {}, true],
    ['no login at all (auth: none)', { auth: 'none', token: { type: 'none' } }],
  ])('leaves the promise path to answer: %s', async (_, change, due) => {
    const policy = { ...plain, ...change };
    expect(inHand(policy, due)).toBeUndefined();
    if (!due && policy.token.type === 'user') expect(await resolved(policy)).toBeInstanceOf(Error);
  });
});
