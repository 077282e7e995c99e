/**
 * A session as a Keycloak login creates it, with tokens of Keycloak's usual
 * sizes (access ≈ 1.3 KB RS256, refresh ≈ 0.7 KB HS512, ID ≈ 1.3 KB RS256)
 * and Keycloak's claim layout, so that sizes and compression ratios are
 * those of production rather than of the dev provider's smaller tokens.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { envSchema } from '../src/config/env-schema.js';
import { parseRolesClaims } from '../src/config/parse-roles-claims.js';
import { buildUserInfo } from '../src/oidc/user-claims.js';
import { newSessionId } from '../src/session/session-cookie.js';
import type { SessionRecord } from '../src/session/session-store.js';

const DEFAULT_ROLES_CLAIMS = parseRolesClaims(envSchema.OIDC_ROLES_CLAIMS.default, 'bff').paths;

export const KEYCLOAK_TOKEN_BYTES = { access: 1300, refresh: 700, id: 1300 } as const;

const ISSUER = 'https://keycloak.example.com/realms/acme';
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A JWT of about `targetBytes`: the claims, grown with realm roles until the size is reached. */
function jwt(header: Record<string, unknown>, claims: Record<string, unknown>, signatureBytes: number, targetBytes: number): string {
  const signature = randomBytes(signatureBytes).toString('base64url');
  const roles: string[] = [];
  const build = () => {
    const payload = roles.length ? { ...claims, realm_access: { roles: [...((claims['realm_access'] as { roles: string[] })?.roles ?? []), ...roles] } } : claims;
    return `${b64(header)}.${b64(payload)}.${signature}`;
  };
  let token = build();
  while (token.length < targetBytes - 20) {
    roles.push(`app-role-${roles.length}`);
    token = build();
  }
  return token;
}

export function keycloakSizedSession(nowMs: number, user: { sub?: string; name?: string } = {}): SessionRecord {
  const now = Math.floor(nowMs / 1000);
  const sub = user.sub ?? randomUUID();
  const sid = randomUUID();
  const kid = randomBytes(32).toString('base64url');
  const person = {
    email_verified: true,
    name: user.name ?? 'Alice Example',
    preferred_username: 'alice',
    given_name: 'Alice',
    family_name: 'Example',
    email: 'alice@example.com',
  };
  const realmRoles = { roles: ['offline_access', 'default-roles-acme', 'uma_authorization', 'orders-reader'] };
  const access = jwt(
    { alg: 'RS256', typ: 'JWT', kid },
    {
      exp: now + 300, iat: now, auth_time: now, jti: `onrtac:${randomUUID()}`, iss: ISSUER,
      aud: ['orders-api', 'account'], sub, typ: 'Bearer', azp: 'bff', sid, acr: '1',
      realm_access: realmRoles, resource_access: { bff: { roles: ['user'] }, account: { roles: ['view-profile'] } },
      scope: 'openid profile email', ...person,
    },
    256,
    KEYCLOAK_TOKEN_BYTES.access,
  );
  const refresh = jwt(
    { alg: 'HS512', typ: 'JWT', kid: randomUUID() },
    {
      exp: now + 1800, iat: now, jti: randomUUID(), iss: ISSUER, aud: ISSUER, sub, typ: 'Refresh', azp: 'bff', sid,
      scope: 'openid profile email web-origins roles basic acr',
    },
    64,
    KEYCLOAK_TOKEN_BYTES.refresh,
  );
  const idClaims = {
    exp: now + 300, iat: now, auth_time: now, jti: `ofrtid:${randomUUID()}`, iss: ISSUER, aud: 'bff', sub, typ: 'ID',
    azp: 'bff', nonce: randomBytes(32).toString('base64url'), sid, at_hash: randomBytes(16).toString('base64url'), acr: '1',
    realm_access: realmRoles, ...person,
  };
  const id = jwt({ alg: 'RS256', typ: 'JWT', kid }, idClaims, 256, KEYCLOAK_TOKEN_BYTES.id);
  return {
    id: newSessionId(),
    sub,
    sid,
    user_info: buildUserInfo({ idTokenClaims: JSON.parse(Buffer.from(id.split('.')[1]!, 'base64url').toString()), accessToken: access, rolesClaims: DEFAULT_ROLES_CLAIMS }),
    tokens: {
      access_token: access,
      token_type: 'Bearer',
      refresh_token: refresh,
      id_token: id,
      scope: 'openid profile email',
      access_expires_at_ms: (now + 300) * 1000,
    },
    created_at_ms: nowMs,
    expires_at_ms: nowMs + 8 * 3600_000,
  };
}
