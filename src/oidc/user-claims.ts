import { decodeJwt } from 'jose';

/** Claims about the protocol exchange, not the user: never shown by /auth/me. */
const PROTOCOL_CLAIMS = new Set([
  'iss', 'aud', 'exp', 'iat', 'nbf', 'auth_time', 'nonce', 'at_hash', 'c_hash', 's_hash',
  'azp', 'sid', 'session_state', 'jti', 'typ',
]);

/**
 * The user as /auth/me shows it: ID-token claims overlaid by userinfo, minus
 * protocol claims, plus `roles` = the sorted union of the claims at
 * `rolesClaims` (OIDC_ROLES_CLAIMS; by default Keycloak's realm and client
 * roles and a top-level `roles`), read from the ID token, userinfo and (when
 * it is a JWT) the access token. A provider's own `roles` claim is never
 * replaced by an empty list.
 */
export function buildUserInfo(input: {
  idTokenClaims?: Readonly<Record<string, unknown>> | undefined;
  userinfo?: Readonly<Record<string, unknown>> | null | undefined;
  accessToken?: string | undefined;
  /** Each path as its list of keys, e.g. ['resource_access', 'bff', 'roles']. */
  rolesClaims: readonly (readonly string[])[];
}): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...input.idTokenClaims, ...input.userinfo };
  for (const claim of PROTOCOL_CLAIMS) delete merged[claim];
  const sources = [input.idTokenClaims, input.userinfo, decodeJwtOrNull(input.accessToken)];
  const roles = new Set<string>();
  for (const source of sources) for (const path of input.rolesClaims) for (const role of rolesAt(source, path)) roles.add(role);
  if (roles.size > 0 || merged['roles'] === undefined) merged['roles'] = [...roles].sort();
  return merged;
}

/** The strings at `path` in `claims`: an array's strings, or a single string. */
function rolesAt(claims: Readonly<Record<string, unknown>> | null | undefined, path: readonly string[]): string[] {
  let value: unknown = claims;
  for (const key of path) value = asRecord(value)?.[key];
  return typeof value === 'string' ? [value] : asStrings(value);
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function asStrings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** Payload of a JWT without verifying it (the provider already did; we only read), or null for opaque tokens. */
export function decodeJwtOrNull(token: string | undefined): Record<string, unknown> | null {
  if (!token || token.split('.').length !== 3) return null;
  try {
    return decodeJwt(token);
  } catch {
    return null;
  }
}

/** When the access token expires (epoch ms): from expires_in, else the JWT's exp; undefined when unknown. */
export function accessTokenExpiresAtMs(input: { accessToken: string; expiresInSeconds?: number | undefined; nowMs: number }): number | undefined {
  if (typeof input.expiresInSeconds === 'number' && input.expiresInSeconds > 0) return input.nowMs + input.expiresInSeconds * 1000;
  const exp = decodeJwtOrNull(input.accessToken)?.['exp'];
  return typeof exp === 'number' ? exp * 1000 : undefined;
}
