import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, importJWK, jwtVerify, SignJWT, type JWK, type JSONWebKeySet } from 'jose';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC, errors as OidcErrors } from 'oidc-provider';
import { claimsForScope, type DevUserDirectory } from './dev-users.js';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

export interface DevTokenExchangeDeps {
  errors: typeof OidcErrors;
  issuer: string;
  signingJwk: JWK;
  publicJwks: JSONWebKeySet;
  users: DevUserDirectory;
  /** Keycloak refuses an audience that is not a client of the realm. */
  isClient(clientId: string): boolean;
  /** Keycloak refuses a subject token whose user session has ended. */
  isSessionActive(sid: string): boolean;
  accessTokenTtlSeconds(): number;
}

/**
 * RFC 8693 token exchange the way Keycloak's standard token exchange answers
 * it: a confidential client sends the user's access token as `subject_token`
 * (`subject_token_type` access_token), an `audience` (a client of the realm)
 * and optionally `requested_token_type` (access_token only) and `scope`; it
 * gets an access token for that audience, carrying the user's roles, with
 * `issued_token_type`. Refusals are 400 with Keycloak's error codes. Laxer
 * than Keycloak in one respect: the subject token's own audience is not
 * checked (the dev realm's access tokens are all for "account").
 */
export function registerDevTokenExchange(provider: Provider, deps: DevTokenExchangeDeps): void {
  const { errors } = deps;
  const keys = createLocalJWKSet(deps.publicJwks);
  const alg = deps.signingJwk.alg ?? 'RS256';
  const signingKey = importJWK(deps.signingJwk, alg);

  const handler = async (ctx: KoaContextWithOIDC) => {
    const params = ctx.oidc.params as Record<string, string | undefined>;
    const client = ctx.oidc.client!;
    if (params['subject_token_type'] !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest('invalid subject_token_type');
    const requested = params['requested_token_type'];
    if (requested !== undefined && requested !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest('requested_token_type unsupported');
    const audience = params['audience'] ?? client.clientId;
    if (!deps.isClient(audience)) throw new errors.InvalidClient('Audience not found');

    let subject: Record<string, unknown>;
    try {
      ({ payload: subject } = await jwtVerify(params['subject_token'] ?? '', keys, { issuer: deps.issuer }));
    } catch {
      throw new errors.InvalidRequest('Invalid token');
    }
    const user = typeof subject['sub'] === 'string' ? deps.users.findBySub(subject['sub']) : undefined;
    const sid = typeof subject['sid'] === 'string' ? subject['sid'] : undefined;
    if (!user || (sid !== undefined && !deps.isSessionActive(sid))) throw new errors.InvalidRequest('Invalid token');

    const subjectScopes = new Set(String(subject['scope'] ?? '').split(' ').filter(Boolean));
    const scope = params['scope'] ? params['scope'].split(' ').filter((s) => subjectScopes.has(s)).join(' ') : [...subjectScopes].join(' ');
    const ttl = deps.accessTokenTtlSeconds();
    const now = Math.floor(Date.now() / 1000);
    const accessToken = await new SignJWT({
      ...claimsForScope(user, [...subjectScopes].join(' ')),
      typ: 'Bearer',
      azp: client.clientId,
      scope,
      ...(sid ? { sid } : {}),
    })
      .setProtectedHeader({ alg, typ: 'at+jwt', ...(deps.signingJwk.kid ? { kid: deps.signingJwk.kid } : {}) })
      .setIssuer(deps.issuer)
      .setSubject(String(subject['sub']))
      .setAudience(audience)
      .setIssuedAt(now)
      .setExpirationTime(now + ttl)
      .setJti(randomUUID())
      .sign(await signingKey);

    ctx.body = {
      access_token: accessToken,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: ttl,
      scope,
    };
  };

  provider.registerGrantType(
    TOKEN_EXCHANGE_GRANT,
    handler,
    ['subject_token', 'subject_token_type', 'requested_token_type', 'audience', 'scope', 'resource'],
    ['audience', 'resource'],
  );
}
