import { createHash, timingSafeEqual } from 'node:crypto';

/** A user of the dev identity provider, shaped like a Keycloak realm user. */
export interface DevUser {
  username: string;
  password: string;
  /** Default: a stable UUID derived from the username (Keycloak subjects are UUIDs). */
  sub?: string;
  given_name?: string;
  family_name?: string;
  /** Default: "given_name family_name". */
  name?: string;
  email?: string;
  /** Default: true. */
  email_verified?: boolean;
  /** Keycloak realm roles → `realm_access.roles`. */
  realm_roles?: string[];
  /** Keycloak client roles by client_id → `resource_access[client_id].roles`. */
  client_roles?: Record<string, string[]>;
  /** A top-level `groups` claim, as LemonLDAP::NG, Authelia, Dex and Okta send. */
  groups?: string[];
  /** A top-level `roles` claim, as Glewlwyd sends. */
  roles?: string[];
}

/** Dev-only account: `admin` / `test`. Announces itself in the login page. */
export const DEFAULT_DEV_USERS: readonly DevUser[] = [
  {
    username: 'admin',
    password: 'test',
    given_name: 'Admin',
    family_name: 'User',
    email: 'admin@example.test',
    realm_roles: ['admin', 'user'],
    client_roles: { bff: ['bff-admin'] },
  },
];

export function subjectOf(user: DevUser): string {
  if (user.sub) return user.sub;
  const hex = createHash('sha256').update(`dev-user:${user.username}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export interface DevUserDirectory {
  findBySub(sub: string): DevUser | undefined;
  /** The user when username and password both match; undefined otherwise. */
  authenticate(username: string, password: string): DevUser | undefined;
}

export function createDevUserDirectory(users: readonly DevUser[]): DevUserDirectory {
  const bySub = new Map(users.map((user) => [subjectOf(user), user]));
  return {
    findBySub: (sub) => bySub.get(sub),
    authenticate(username, password) {
      const user = users.find((candidate) => candidate.username === username);
      // Compare digests so the comparison time does not depend on the password.
      const digest = (value: string) => createHash('sha256').update(value).digest();
      if (!user || !timingSafeEqual(digest(user.password), digest(password))) return undefined;
      return user;
    },
  };
}

/**
 * Every claim Keycloak would put in a token for `user`; oidc-provider filters
 * them by the granted scopes (see `claims` in the provider configuration).
 */
export function keycloakClaimsOf(user: DevUser): Record<string, unknown> {
  const givenName = user.given_name;
  const familyName = user.family_name;
  const name = user.name ?? ([givenName, familyName].filter(Boolean).join(' ') || user.username);
  const resourceAccess = Object.fromEntries(
    Object.entries(user.client_roles ?? {}).map(([clientId, roles]) => [clientId, { roles: [...roles] }]),
  );
  return {
    sub: subjectOf(user),
    preferred_username: user.username,
    name,
    given_name: givenName,
    family_name: familyName,
    email: user.email,
    email_verified: user.email === undefined ? undefined : (user.email_verified ?? true),
    realm_access: { roles: [...(user.realm_roles ?? [])] },
    resource_access: resourceAccess,
    groups: user.groups === undefined ? undefined : [...user.groups],
    roles: user.roles === undefined ? undefined : [...user.roles],
  };
}

/** Which claims each scope releases, as Keycloak's default client scopes do. */
export const CLAIMS_BY_SCOPE = {
  // Keycloak's "roles" client scope is a default scope; here the roles ride on openid.
  openid: ['sub', 'realm_access', 'resource_access', 'groups', 'roles'],
  profile: ['name', 'given_name', 'family_name', 'preferred_username'],
  email: ['email', 'email_verified'],
} as const;

/** Claims of `user` released by a space-separated `scope`. */
export function claimsForScope(user: DevUser, scope: string): Record<string, unknown> {
  const all = keycloakClaimsOf(user);
  const scopes = new Set(scope.split(' '));
  const out: Record<string, unknown> = {};
  for (const [scopeName, names] of Object.entries(CLAIMS_BY_SCOPE)) {
    if (!scopes.has(scopeName)) continue;
    for (const claimName of names) {
      if (all[claimName] !== undefined) out[claimName] = all[claimName];
    }
  }
  return out;
}
