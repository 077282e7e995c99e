/**
 * Every environment variable the gateway reads, documented once.
 *
 * `.env.example`, the README table, docker-compose.yml and the Helm chart are
 * checked against this list by test/unit/deploy (a variable added here must
 * join all four).
 */
export interface EnvVarSpec {
  /** Default as the operator would write it; undefined = unset / required. */
  readonly default?: string;
  /** One line: what it means, with its unit. */
  readonly description: string;
  /** Never logged or echoed. */
  readonly secret?: boolean;
  readonly required?: boolean;
  /** Grouping for docs. */
  readonly group: 'server' | 'oidc' | 'session' | 'redis' | 'proxy' | 'security' | 'ops';
}

export const envSchema = {
  PORT: { group: 'server', default: '3000', description: 'Public listener port.' },
  ADMIN_PORT: {
    group: 'server',
    default: '9090',
    description: 'Admin listener port (health, readiness, metrics, status, session management); never route it through the ingress.',
  },
  PUBLIC_URL: {
    group: 'server',
    default: 'http://localhost:3000',
    description: 'External base URL. Redirect URI = PUBLIC_URL/auth/callback; https makes every cookie Secure.',
  },
  STATIC_DIR: { group: 'server', description: 'Serve a built SPA from this directory (index.html for unknown HTML navigations).' },
  TRUST_PROXY: { group: 'server', default: 'false', description: 'Trust X-Forwarded-* from the load balancer in front.' },
  SHUTDOWN_TIMEOUT_MS: { group: 'server', default: '10000', description: 'SIGTERM drain bound in milliseconds.' },
  SHUTDOWN_DELAY_MS: {
    group: 'server',
    default: '0',
    description:
      'On SIGTERM, /readyz answers 503 at once but requests are still served (with Connection: close) for this many ms before the drain, so a balancer that health-checks /readyz (HAProxy) takes the replica out first. 0 under Kubernetes, whose preStop sleep does this.',
  },

  OIDC_ISSUER: { group: 'oidc', required: true, description: 'Expected issuer, e.g. https://keycloak.example/realms/myrealm.' },
  OIDC_DISCOVERY_URL: {
    group: 'oidc',
    description: 'Where the gateway fetches discovery (default OIDC_ISSUER/.well-known/openid-configuration); an in-cluster URL, say.',
  },
  OIDC_CLIENT_ID: { group: 'oidc', required: true, description: 'Client id registered at the provider.' },
  OIDC_CLIENT_SECRET: {
    group: 'oidc',
    secret: true,
    description: 'Confidential client when set (sent as OIDC_CLIENT_AUTH says); public client otherwise. PKCE is always used.',
  },
  OIDC_CLIENT_AUTH: {
    group: 'oidc',
    description:
      'How the gateway authenticates at the token endpoint: client_secret_basic (default with a secret), client_secret_post, private_key_jwt (default with OIDC_CLIENT_PRIVATE_KEY_FILE), or none (default without either). Basic form-encodes id and secret first (RFC 6749 2.3.1): some providers (LemonLDAP::NG, Glewlwyd) do not decode them, so an id or secret outside A-Z a-z 0-9 needs client_secret_post there.',
  },
  OIDC_CLIENT_PRIVATE_KEY_FILE: {
    group: 'oidc',
    description:
      'PEM or JWK file of the private key for OIDC_CLIENT_AUTH=private_key_jwt (the default when only this is set), used at the token, revocation and PAR endpoints; kid from the file or its RFC 7638 thumbprint, alg from the key (RS256 for RSA, ES256 for P-256). Keycloak: Client Authenticator "Signed JWT". A bad file stops start-up.',
  },
  OIDC_PAR: {
    group: 'oidc',
    default: 'auto',
    description:
      'Pushed authorization requests (RFC 9126): auto = when discovery says the provider requires them, true = always (a provider without a PAR endpoint keeps /readyz at 503, logged at error), false = never. The browser then carries only client_id and request_uri.',
  },
  OIDC_DPOP: {
    group: 'oidc',
    default: 'false',
    description:
      'DPoP (RFC 9449): true = each session holds its own ES256 key pair (sealed in the session record), the code exchange and every refresh bind the tokens to it (answering the provider\'s nonce challenge), and routes with dpop: true in ROUTES_FILE get Authorization: DPoP plus a fresh proof. Keycloak: the client\'s "Require DPoP bound tokens".',
  },
  OIDC_ROLES_CLAIMS: {
    group: 'oidc',
    default: 'realm_access.roles,resource_access.{client_id}.roles,roles',
    description:
      'Comma-separated claim paths (dots between keys; {client_id} = OIDC_CLIENT_ID) whose string arrays make /auth/me roles, read from the ID token, userinfo and a JWT access token; add groups for LemonLDAP::NG, Authelia, Dex, Okta.',
  },
  OIDC_SCOPES: { group: 'oidc', default: 'openid profile email', description: 'Space-separated scopes requested at login.' },
  OIDC_POST_LOGOUT_REDIRECT_URI: { group: 'oidc', description: 'Where the provider sends the browser after logout (default PUBLIC_URL/).' },
  OIDC_ALLOW_INSECURE_HTTP: {
    group: 'oidc',
    default: 'false',
    description: 'Allow an http:// provider under NODE_ENV=production (outside production it is allowed with a warning).',
  },
  OIDC_TIMEOUT_MS: { group: 'oidc', default: '10000', description: 'Timeout in milliseconds for every call to the provider, and how long a request waits for a refresh; the refresh grant itself runs on for up to 3× this (30–60 s) so that a late answer with a rotated refresh token is stored, not lost.' },
  TOKEN_REFRESH_SKEW_SECONDS: {
    group: 'oidc',
    default: '30',
    description: 'Refresh the access token when it expires within this many seconds.',
  },

  SESSION_SECRET: {
    group: 'session',
    secret: true,
    description:
      'Comma-separated secrets, each >= 32 chars; the first signs and encrypts, all verify and decrypt (rotation). Required in production.',
  },
  SESSION_TTL_SECONDS: { group: 'session', default: '28800', description: 'Absolute session lifetime in seconds (8 h).' },
  SESSION_IDLE_TIMEOUT_SECONDS: {
    group: 'session',
    description: 'Optional sliding idle limit in seconds; never extends past the absolute lifetime.',
  },
  SESSION_COOKIE_NAME: { group: 'session', default: 'bff_session', description: 'Name of the session cookie.' },
  SETTINGS_DEFAULTS_FILE: {
    group: 'session',
    description: 'JSON file with the default per-session settings object; a bad file stops start-up.',
  },

  REDIS_ENABLED: { group: 'redis', default: 'false', description: 'true = Redis session store; otherwise in-memory (one process only).' },
  REDIS_URL: {
    group: 'redis',
    default: 'redis://localhost:6379/0',
    secret: true,
    description: 'redis:// or rediss:// (TLS) URL with optional user, password and db index.',
  },
  REDIS_USERNAME: { group: 'redis', description: 'ACL user when not given in REDIS_URL (needed for Cluster/Sentinel nodes).' },
  REDIS_PASSWORD: { group: 'redis', secret: true, description: 'Password when not given in REDIS_URL.' },
  REDIS_TLS_CA_FILE: { group: 'redis', description: 'PEM file of the CA that signed the Redis server certificate (rediss://).' },
  REDIS_KEY_PREFIX: {
    group: 'redis',
    default: 'session:',
    description: 'Session records are stored at exactly PREFIX<id>; must not contain { or }.',
  },
  REDIS_SENTINELS: { group: 'redis', description: 'host:port,... of the Sentinels: Sentinel mode.' },
  REDIS_SENTINEL_NAME: { group: 'redis', description: 'Master name monitored by the Sentinels.' },
  REDIS_SENTINEL_PASSWORD: { group: 'redis', secret: true, description: 'Password of the Sentinels themselves.' },
  REDIS_CLUSTER_NODES: { group: 'redis', description: 'host:port,... seed nodes: Cluster mode (db 0 only).' },
  REDIS_COMMAND_TIMEOUT_MS: { group: 'redis', default: '1000', description: 'Bound in milliseconds on each store call.' },
  REDIS_SESSION_CACHE: {
    group: 'redis',
    default: 'true',
    description:
      'true = keep sessions read by this process in memory, dropped the moment Redis reports a change anywhere (client tracking; bypassed while that channel is down or Redis has not answered for REDIS_COMMAND_TIMEOUT_MS); false = read Redis on every request. Single, Sentinel and Cluster (one broadcast feed per master).',
  },
  REDIS_SECONDARY_URL: {
    group: 'redis',
    secret: true,
    description: 'Migration: the old Redis; reads fall back to it and copy forward, writes and deletes hit both.',
  },
  REDIS_FALLBACK: {
    group: 'redis',
    default: 'none',
    description: 'memory = fall back to in-memory sessions while Redis is unreachable (single instance only); none otherwise.',
  },

  PROXY_ROUTES: { group: 'proxy', description: 'Comma-separated prefix=target pairs, e.g. /api=http://api:8080,/billing=https://b.internal/v2.' },
  ROUTES_FILE: {
    group: 'proxy',
    description: 'YAML or JSON file of routes with per-route policies (auth, roles, token user/exchange/client/none, csrf, websocket, timeoutMs, stripPrefix, userHeaders, dpop); see docs/proxy.md. Adds to PROXY_ROUTES.',
  },
  PROXY_TIMEOUT_MS: { group: 'proxy', default: '30000', description: 'Upstream response-header timeout in milliseconds.' },
  PROXY_FORWARD_COOKIES: {
    group: 'proxy',
    default: 'all',
    description:
      "Browser cookies sent upstream: all (every cookie but the gateway's own), none, or a comma-separated list of cookie names. none when the API needs no cookies or shares its domain with the provider's portal.",
  },
  WEBSOCKET_SESSION_CHECK_MS: {
    group: 'proxy',
    default: '30000',
    description:
      'How often, in milliseconds, proxied WebSockets check that their session still exists (one store read per session with open sockets); an ended session closes them with 1008.',
  },

  ADMIN_TOKEN: {
    group: 'security',
    secret: true,
    description: 'Bearer token for the admin port session management; disabled while unset.',
  },
  LOGIN_RATE_LIMIT_PER_MINUTE: {
    group: 'security',
    default: '300',
    description: 'Logins started per client IP per minute (kept in the store); 0 disables.',
  },

  LOG_LEVEL: { group: 'ops', default: 'info', description: 'JSON log level: fatal, error, warn, info, debug, trace, silent.' },
  NODE_ENV: { group: 'ops', default: 'development', description: 'production enforces a real SESSION_SECRET and an https provider.' },
} as const satisfies Record<string, EnvVarSpec>;

export type EnvVarName = keyof typeof envSchema;

export const envVarNames = Object.keys(envSchema) as EnvVarName[];
