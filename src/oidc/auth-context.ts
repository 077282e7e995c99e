/** How and when the user authenticated, as an ID token states it (OpenID Connect Core §2). */
export interface AuthContext {
  /** `acr`: the authentication context class reference (Keycloak: the level of authentication, "1", "2", ...). */
  readonly acr?: string;
  /** `auth_time` in epoch milliseconds. */
  readonly auth_time_ms?: number;
}

/** The `acr` and `auth_time` of validated ID token claims; members the token lacks are left out. */
export function authContextOf(claims: Readonly<Record<string, unknown>> | undefined): AuthContext {
  const acr = claims?.['acr'];
  const authTime = claims?.['auth_time'];
  return {
    ...(typeof acr === 'string' && acr.length > 0 ? { acr } : {}),
    ...(typeof authTime === 'number' && Number.isFinite(authTime) && authTime > 0 ? { auth_time_ms: authTime * 1000 } : {}),
  };
}
