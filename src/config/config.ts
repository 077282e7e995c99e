/** The typed configuration every factory takes a slice of. Built by loadConfig(env). */
import type { ClientPrivateKey } from './parse-client-private-key.js';

export type RedisTopology =
  | { readonly mode: 'single'; readonly url: string }
  | { readonly mode: 'sentinel'; readonly sentinels: readonly HostPort[]; readonly name: string; readonly sentinelPassword?: string; readonly url: string }
  | { readonly mode: 'cluster'; readonly nodes: readonly HostPort[]; readonly url: string };

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface RedisConfig {
  readonly topology: RedisTopology;
  /** Overrides of the credentials in the URL (needed for Cluster/Sentinel nodes). */
  readonly username?: string;
  readonly password?: string;
  readonly tlsCaFile?: string;
  readonly keyPrefix: string;
  readonly commandTimeoutMs: number;
  /** REDIS_SESSION_CACHE: local session cache kept coherent by Redis client tracking (every topology); on unless REDIS_SESSION_CACHE=false. */
  readonly sessionCache?: boolean;
  /** Migration source: the old Redis, read as a fallback. */
  readonly secondaryUrl?: string;
  readonly fallback: 'none' | 'memory';
}

export interface ProxyRoute {
  /** Normalised prefix without trailing slash, e.g. `/api`. */
  readonly prefix: string;
  readonly target: URL;
  /**
   * What ROUTES_FILE says beyond prefix and target; absent for a route with
   * today's defaults (every PROXY_ROUTES entry), which keeps that path free of
   * any policy work.
   */
  readonly policy?: RoutePolicy;
}

export type RouteAuth = 'required' | 'optional' | 'none';

export type RouteToken =
  | { readonly type: 'user' }
  | { readonly type: 'none' }
  | { readonly type: 'exchange'; readonly audience: string; readonly scope?: string }
  | { readonly type: 'client'; readonly scope?: string };

export type UserHeader = 'X-User-Sub' | 'X-User-Email' | 'X-User-Roles';

/** A route's policy from ROUTES_FILE (docs/proxy.md); defaults filled in. */
export interface RoutePolicy {
  readonly auth: RouteAuth;
  /** Realm roles (`admin`) and client roles (`client:role`); absent = no role check. */
  readonly roles?: { readonly anyOf?: readonly string[]; readonly allOf?: readonly string[] };
  readonly token: RouteToken;
  readonly csrf: boolean;
  readonly websocket: boolean;
  /** Overrides PROXY_TIMEOUT_MS for this route. */
  readonly timeoutMs?: number;
  readonly stripPrefix: boolean;
  readonly userHeaders: readonly UserHeader[];
  /** Send the user's token as `Authorization: DPoP` with a proof from the session's key (needs OIDC_DPOP). */
  readonly dpop: boolean;
  /** Step-up (RFC 9470): the session's `acr` must be one of these; absent = any. Needs auth: required. */
  readonly acr?: readonly string[];
  /** Step-up (RFC 9470): the user authenticated at most this many seconds ago (OIDC `max_age`). Needs auth: required. */
  readonly maxAuthAgeSeconds?: number;
  /**
   * auth required, token user, no roles, no user headers, no dpop, no step-up: the session and
   * token work of a route without policy, so the proxy serves it on that same
   * path (only csrf, websocket, timeoutMs or stripPrefix differ).
   */
  readonly defaultAccess: boolean;
}

/**
 * How the gateway authenticates at the provider's token endpoint
 * (OIDC_CLIENT_AUTH). One member per method, each with what it needs, so a
 * method with other credentials (a signing key) joins as one more member.
 */
export type ClientAuth =
  | { readonly method: 'client_secret_basic'; readonly secret: string }
  | { readonly method: 'client_secret_post'; readonly secret: string }
  /** A JWT signed with the gateway's own key (RFC 7523; Keycloak's "Signed JWT"). */
  | { readonly method: 'private_key_jwt'; readonly key: ClientPrivateKey }
  | { readonly method: 'none' };

export type ClientAuthMethod = ClientAuth['method'];

/** Which browser cookies reach upstream APIs (PROXY_FORWARD_COOKIES); the gateway's own never do. */
export type ForwardCookies =
  | { readonly mode: 'all' }
  | { readonly mode: 'none' }
  | { readonly mode: 'only'; readonly names: readonly string[] };

export interface Config {
  readonly nodeEnv: string;
  readonly isProduction: boolean;
  readonly port: number;
  readonly adminPort: number;
  readonly publicUrl: URL;
  /** `https:` public URL: every cookie is Secure. */
  readonly secureCookies: boolean;
  readonly staticDir?: string;
  readonly trustProxy: boolean;
  readonly shutdownTimeoutMs: number;
  readonly logLevel: string;

  readonly oidc: {
    readonly issuer: string;
    readonly discoveryUrl: URL;
    readonly clientId: string;
    readonly clientAuth: ClientAuth;
    /**
     * OIDC_PAR: pushed authorization requests. `auto` = when discovery says the
     * provider requires them; `true` = always (a provider without a PAR endpoint
     * keeps the gateway unready); `false` = never.
     */
    readonly par: 'auto' | 'true' | 'false';
    /** OIDC_DPOP: one DPoP key per session, tokens bound to it (RFC 9449). */
    readonly dpop: boolean;
    /**
     * Claim paths read for /auth/me's `roles`, each a list of object keys
     * (`resource_access.<client id>.roles` = ['resource_access', clientId, 'roles']).
     */
    readonly rolesClaims: readonly (readonly string[])[];
    readonly scopes: string;
    readonly redirectUri: string;
    readonly postLogoutRedirectUri: string;
    readonly allowInsecureHttp: boolean;
    readonly timeoutMs: number;
    readonly refreshSkewSeconds: number;
  };

  readonly session: {
    /** Rotation list: the first signs/encrypts, all verify/decrypt. */
    readonly secrets: readonly string[];
    /** True when SESSION_SECRET was unset and the dev default is in use. */
    readonly usingDevSecret: boolean;
    readonly ttlSeconds: number;
    readonly idleTimeoutSeconds?: number;
    readonly cookieName: string;
    readonly settingsDefaults: Readonly<Record<string, unknown>>;
  };

  /** Undefined = in-memory store. */
  readonly redis?: RedisConfig;
  /** True when REDIS_* was set without REDIS_ENABLED=true (warned about at start-up). */
  readonly redisVarsIgnored: boolean;

  readonly proxy: {
    readonly routes: readonly ProxyRoute[];
    readonly timeoutMs: number;
    readonly forwardCookies: ForwardCookies;
    /** How often open WebSockets check that their session still exists. */
    readonly websocketSessionCheckMs: number;
  };

  readonly adminToken?: string;
  readonly loginRateLimitPerMinute: number;

  /** Non-fatal remarks to log once at start-up (dev secret, http provider, ...). */
  readonly warnings: readonly string[];
}
