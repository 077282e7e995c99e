import type { Configuration, JWKS, KoaContextWithOIDC, errors as OidcErrors, interactionPolicy as InteractionPolicy } from 'oidc-provider';
import { DEV_ACR_VALUES, devInteractionPolicy } from './dev-acr.js';
import { CLAIMS_BY_SCOPE, claimsForScope, keycloakClaimsOf, type DevUserDirectory } from './dev-users.js';
import { errorPage, loggedOutPage, logoutPage } from './dev-pages.js';
import type { DevMemoryStore } from './dev-memory-store.js';
import { SIMULATED_ANSWER_STATE, type TokenEndpointFailure } from './dev-token-failures.js';

/** Token lifetimes and rotation; mutable at run time through `setTokenPolicy`. */
export interface DevTokenPolicy {
  accessTokenTtlSeconds: number;
  idTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /** Keycloak's "SSO Session Max": lifetime of the provider session and of each grant. */
  ssoSessionMaxSeconds: number;
  rotateRefreshTokens: boolean;
}

/** Keycloak's own failures, or the answer shapes of other providers (dev-token-failures.ts). */
export type RefreshFailure = 'invalid_grant' | 'server_error' | TokenEndpointFailure;

/** In the message of every failure `failNextRefresh` causes, so it is not reported as a server error. */
export const SIMULATED_FAILURE_MARK = '(failNextRefresh)';

/** Keycloak's endpoint paths, relative to the issuer `/realms/<realm>`. */
export const KEYCLOAK_ROUTES = {
  authorization: '/protocol/openid-connect/auth',
  token: '/protocol/openid-connect/token',
  userinfo: '/protocol/openid-connect/userinfo',
  jwks: '/protocol/openid-connect/certs',
  end_session: '/protocol/openid-connect/logout',
  revocation: '/protocol/openid-connect/revoke',
  introspection: '/protocol/openid-connect/token/introspect',
  pushed_authorization_request: '/protocol/openid-connect/ext/par/request',
} as const;

/** Resource indicator every access token is issued for, so that they are JWTs (see `getResourceServerInfo`). */
const ACCESS_TOKEN_RESOURCE = 'urn:dev-identity-provider:access-token';

export interface DevProviderConfigurationDeps {
  /** oidc-provider's `errors`, passed in because the module is imported lazily (see importOidcProvider). */
  errors: typeof OidcErrors;
  /** oidc-provider's `interactionPolicy`, passed in for the same reason. */
  interactionPolicy: typeof InteractionPolicy;
  basePath: string;
  jwks: JWKS;
  /** Cookie signing keys; the Koa app the provider is mounted in must use the same (`app.keys`). */
  cookieKeys: string[];
  users: DevUserDirectory;
  store: DevMemoryStore;
  policy: DevTokenPolicy;
  accessTokenAudience: string;
  /** Failures queued by `failNextRefresh`, consumed one per refresh grant. */
  pendingRefreshFailures: RefreshFailure[];
  /** RFC 9126: offered (Keycloak's default), required of every client, or absent. */
  pushedAuthorizationRequests: 'on' | 'required' | 'off';
  /** DPoP (RFC 9449): the nonce key (32 bytes) and whether every proof needs a nonce (`use_dpop_nonce`). */
  dpop: { nonceSecret: Buffer; requireNonce: boolean };
}

/** oidc-provider 9 configuration that behaves like a Keycloak realm: JWT access tokens, refresh without offline_access, Keycloak claims and paths. */
export function createDevProviderConfiguration(deps: DevProviderConfigurationDeps): Configuration {
  const { policy, errors } = deps;
  return {
    adapter: (name: string) => deps.store.adapterFor(name),
    jwks: structuredClone(deps.jwks),
    cookies: { keys: deps.cookieKeys },
    routes: { ...KEYCLOAK_ROUTES },
    interactions: {
      url: (_ctx, interaction) => `${deps.basePath}/login-actions/${interaction.uid}`,
      // Step-up: a session below the level acr_values asks for logs in again (dev-acr.ts).
      policy: devInteractionPolicy(deps.interactionPolicy),
    },
    // Keycloak's default "ACR to LoA mapping": acr "1" = password, "2" = a second factor as well.
    acrValues: [...DEV_ACR_VALUES],
    findAccount(_ctx, sub) {
      const user = deps.users.findBySub(sub);
      if (!user) return undefined;
      return { accountId: sub, claims: () => ({ ...keycloakClaimsOf(user), sub }) };
    },
    // Keycloak puts acr in every ID token, asked for or not: it rides on openid here (oidc-provider
    // would otherwise send it only to a client that asked for it, with acr_values or claims).
    claims: { sid: null, auth_time: null, iss: null, ...toMutable(CLAIMS_BY_SCOPE), openid: [...CLAIMS_BY_SCOPE.openid, 'acr'] },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    // Keycloak puts the profile claims in the ID token even when an access token is issued.
    conformIdTokenClaims: false,
    extraParams: ['kc_idp_hint'],
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      id_token_signed_response_alg: 'RS256',
      token_endpoint_auth_method: 'client_secret_basic',
    },
    pkce: { required: () => true },
    ttl: {
      AccessToken: () => policy.accessTokenTtlSeconds,
      IdToken: () => policy.idTokenTtlSeconds,
      RefreshToken: () => policy.refreshTokenTtlSeconds,
      AuthorizationCode: 60, // 1 minute in seconds, Keycloak's default
      Interaction: 30 * 60, // Keycloak's "Login timeout"
      Session: () => policy.ssoSessionMaxSeconds,
      Grant: () => policy.ssoSessionMaxSeconds,
      ClientCredentials: () => policy.accessTokenTtlSeconds,
    },
    // Keycloak issues a refresh token to every client allowed the grant, without offline_access.
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    // Also the seam for `failNextRefresh`: oidc-provider calls this after validating the
    // presented refresh token and before consuming it, so a simulated failure leaves it usable.
    rotateRefreshToken: (ctx) => {
      const failure = deps.pendingRefreshFailures.shift();
      if (failure === 'invalid_grant') throw new errors.InvalidGrant(`refresh refused ${SIMULATED_FAILURE_MARK}`);
      if (failure === 'server_error') throw new Error(`simulated provider failure ${SIMULATED_FAILURE_MARK}`);
      if (failure !== undefined) {
        // Refused here, before the token is consumed; the answer is reshaped once the provider has rendered it.
        ctx.state[SIMULATED_ANSWER_STATE] = failure;
        throw new errors.InvalidRequest(`refresh refused ${SIMULATED_FAILURE_MARK}`);
      }
      return policy.rotateRefreshTokens;
    },
    extraTokenClaims(_ctx, token) {
      const accountId = 'accountId' in token ? token.accountId : undefined;
      const user = typeof accountId === 'string' ? deps.users.findBySub(accountId) : undefined;
      if (!user) return undefined;
      const sid = (token as { sid?: string }).sid;
      return { typ: 'Bearer', azp: token.clientId, sid, ...claimsForScope(user, token.scope ?? '') };
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      revocation: {
        enabled: true,
        allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId,
      },
      backchannelLogout: { enabled: true },
      // Bound access tokens carry cnf.jkt (they are JWTs, see resourceIndicators); the userinfo endpoint then wants a proof too.
      dPoP: { enabled: true, nonceSecret: deps.dpop.nonceSecret, requireNonce: () => deps.dpop.requireNonce },
      pushedAuthorizationRequests: {
        enabled: deps.pushedAuthorizationRequests !== 'off',
        requirePushedAuthorizationRequests: deps.pushedAuthorizationRequests === 'required',
      },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => renderHtml(ctx, logoutPage(form)),
        postLogoutSuccessSource: (ctx) => renderHtml(ctx, loggedOutPage()),
      },
      // Access tokens are JWTs only when issued for a resource server, so every
      // token is issued for one; its audience is Keycloak's default "account".
      resourceIndicators: {
        enabled: true,
        defaultResource: () => ACCESS_TOKEN_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, indicator) => {
          if (indicator !== ACCESS_TOKEN_RESOURCE) throw new errors.InvalidTarget();
          return {
            scope: 'openid profile email offline_access',
            audience: deps.accessTokenAudience,
            accessTokenFormat: 'jwt',
            accessTokenTTL: policy.accessTokenTtlSeconds,
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    renderError: (ctx, out) => renderHtml(ctx, errorPage({ ...out })),
    // oidc-provider refuses loopback targets (SSRF guard) for back-channel
    // logout; the dev provider calls only loopback, and nothing else.
    fetch: (input, init) => {
      const url = new URL(input instanceof Request ? input.url : input);
      if (!isLoopbackHost(url.hostname)) {
        return Promise.reject(new Error(`dev identity provider only calls loopback addresses, not ${url.host}`));
      }
      const { dispatcher: _ignored, ...rest } = (init ?? {}) as RequestInit & { dispatcher?: unknown };
      return fetch(input, rest);
    },
  };
}

function renderHtml(ctx: KoaContextWithOIDC, html: string): void {
  ctx.type = 'html';
  ctx.body = html;
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

function toMutable<T extends Record<string, readonly string[]>>(claims: T): Record<string, string[]> {
  return Object.fromEntries(Object.entries(claims).map(([scope, names]) => [scope, [...names]]));
}
