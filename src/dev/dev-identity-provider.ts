import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import Koa from 'koa';
import type { Context, Middleware, Next } from 'koa';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type JSONWebKeySet } from 'jose';
import type Provider from 'oidc-provider';
import type { ClientMetadata, JWKS, KoaContextWithOIDC } from 'oidc-provider';
import { undecodedBasicCredentials } from './dev-basic-auth-quirk.js';
import { createDevLoginRoutes } from './dev-login-routes.js';
import { createDevMemoryStore, type DevMemoryStore } from './dev-memory-store.js';
import {
  createDevProviderConfiguration,
  KEYCLOAK_ROUTES,
  SIMULATED_FAILURE_MARK,
  type DevTokenPolicy,
  type RefreshFailure,
} from './dev-provider-configuration.js';
import { registerDevTokenExchange, TOKEN_EXCHANGE_GRANT } from './dev-token-exchange.js';
import { createDevSigningKeys, type DevSigningKeys } from './dev-signing-keys.js';
import { answerAs, SIMULATED_ANSWER_STATE, type TokenEndpointFailure } from './dev-token-failures.js';
import { createDevUserinfo } from './dev-userinfo.js';
import { createDevUserDirectory, DEFAULT_DEV_USERS, subjectOf, type DevUser } from './dev-users.js';

export type { DevUser } from './dev-users.js';
export type { DevTokenPolicy, RefreshFailure } from './dev-provider-configuration.js';
export type { TokenEndpointFailure } from './dev-token-failures.js';

/** A client registered at the dev provider (OpenID Connect client metadata names). */
export interface DevClient {
  client_id: string;
  /** Confidential client (`client_secret_basic`) when set; public client (`none`) otherwise. */
  client_secret?: string;
  redirect_uris: string[];
  post_logout_redirect_uris?: string[];
  /** Back-channel logout target; the logout token always carries `sid`. */
  backchannel_logout_uri?: string;
  /** `private_key_jwt` needs `jwks` (Keycloak: Client Authenticator "Signed JWT", Keys tab). */
  token_endpoint_auth_method?: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';
  /** The client's public keys, for `private_key_jwt` (Keycloak: Keys tab, "Use JWKS" or an imported certificate). */
  jwks?: JSONWebKeySet;
  /** Keycloak's per-client "Pushed authorization request required" (Advanced tab). */
  require_pushed_authorization_requests?: boolean;
  /** Keycloak's per-client "Require DPoP bound tokens" (Advanced tab): token requests without a DPoP proof are refused. */
  dpop_bound_access_tokens?: boolean;
}

export interface DevIdentityProviderOptions {
  /** Port on 127.0.0.1; 0 (default) = a free port. */
  port?: number;
  /** Keycloak realm name; the issuer is `http://127.0.0.1:<port>/realms/<realm>`. Default `demo`. */
  realm?: string;
  /** More can be added later with `setClient` (e.g. once the gateway's port is known). */
  clients?: DevClient[];
  /** Default: `admin` / `test` (DEFAULT_DEV_USERS). */
  users?: DevUser[];
  /** Default 300 (Keycloak's "Access Token Lifespan"). */
  accessTokenTtlSeconds?: number;
  /** Default 300. */
  idTokenTtlSeconds?: number;
  /** Default 1800 (Keycloak's "SSO Session Idle"); also sent as `refresh_expires_in`. */
  refreshTokenTtlSeconds?: number;
  /** Default 36000 (Keycloak's "SSO Session Max"): provider session and grant lifetime. */
  ssoSessionMaxSeconds?: number;
  /** Default true: each refresh returns a new refresh token and consumes the old one. */
  rotateRefreshTokens?: boolean;
  /** `aud` of access tokens. Default `account`, as Keycloak's. */
  accessTokenAudience?: string;
  /** Private JWKS to sign with; default: a fresh RS256 key. */
  jwks?: JSONWebKeySet;
  /**
   * Compare client_secret_basic credentials without form-decoding them, as
   * LemonLDAP::NG and Glewlwyd do (dev-basic-auth-quirk.ts). Default false.
   */
  undecodedBasicCredentials?: boolean;
  /**
   * Pushed authorization requests (RFC 9126): `on` (default) = the endpoint is
   * offered and advertised, as Keycloak does; `required` = every client must use
   * it (discovery says `require_pushed_authorization_requests: true`); `off` = no endpoint.
   */
  pushedAuthorizationRequests?: 'on' | 'required' | 'off';
  /**
   * DPoP (RFC 9449) is always offered; with `true` (default) every DPoP proof
   * must carry the provider's nonce: the first one is refused with
   * `use_dpop_nonce` and a `DPoP-Nonce` header, the client retries with it.
   */
  dpopNonces?: boolean;
}

/** Grants and revocations the provider has answered, for "exactly one refresh" assertions. */
export interface DevProviderCounters {
  authorizationCodeGrants: number;
  /** Successful refresh grants. */
  refreshGrants: number;
  /** Refused or failed refresh grants (invalid_grant, simulated failures, ...). */
  refreshGrantErrors: number;
  /** Revocation requests answered 200. */
  revocations: number;
  /** GET requests to the JWKS endpoint (the key set fetched by relying parties). */
  jwksFetches: number;
  /** Successful token exchanges (RFC 8693). */
  tokenExchangeGrants: number;
  /** Refused token exchanges. */
  tokenExchangeErrors: number;
  /** Successful client-credentials grants. */
  clientCredentialsGrants: number;
}

export interface BackchannelDelivery {
  clientId: string;
  sub: string;
  sid: string;
  ok: boolean;
  error?: string;
}

export type DownMode = 'http-503' | 'connection-reset';

export interface LogoutTokenOptions {
  /** Header members; `typ` defaults to `logout+jwt`, `kid`/`alg` to the signing key's. */
  header?: Record<string, unknown>;
  /** Private JWK to sign with instead of the provider's (a forged token). */
  privateJwk?: JWK;
}

export interface DevIdentityProvider {
  issuer: string;
  port: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
  discoveryUrl: string;
  /** Private JWKS in use; sign with it to make tokens the gateway must accept. */
  jwks: JSONWebKeySet;
  publicJwks: JSONWebKeySet;
  /** Live counters; read them after the call under test. */
  counters: DevProviderCounters;
  /** Back-channel logout tokens sent (RP-initiated logout or `endSessionsOf`). */
  backchannelDeliveries: BackchannelDelivery[];
  /** Unexpected errors inside the provider; a test can assert it stays empty. */
  serverErrors: unknown[];
  /** The oidc-provider instance, for anything not covered here. */
  provider: Provider;
  /** Registers or replaces a client. */
  setClient(client: DevClient): Promise<void>;
  /** Changes token lifetimes / rotation for tokens issued from now on. */
  setTokenPolicy(policy: Partial<DevTokenPolicy>): void;
  /** While down: every request gets 503 (`http-503`) or has its connection dropped (`connection-reset`). */
  setDown(down: boolean, mode?: DownMode): void;
  /** Delay before every request is handled, in ms (0 = none). */
  setLatencyMs(ms: number): void;
  /**
   * Holds every POST to this endpoint (token or revocation) from now on until
   * `release()`, so a test can act while a grant is under way without betting
   * on a delay; `held()` counts the requests that arrived and wait.
   */
  holdRequests(endpoint: 'token' | 'revocation'): { held(): number; release(): void };
  /**
   * The next `times` valid refresh grants fail with this error; the refresh
   * token stays usable. Besides Keycloak's own, the answer shapes of other
   * providers (TokenEndpointFailure: LemonLDAP::NG, Glewlwyd, a proxy's 503).
   */
  failNextRefresh(kind: RefreshFailure, times?: number): void;
  /** The next `times` authorization-code grants are answered like this (the code is spent all the same). */
  failNextCodeExchange(kind: TokenEndpointFailure, times?: number): void;
  /** The next `times` revocation requests are answered like this (the token is revoked all the same). */
  failNextRevocation(kind: TokenEndpointFailure, times?: number): void;
  /** Forgets failures queued by `failNext...` and not used yet. */
  clearPendingFailures(): void;
  /**
   * ID tokens are signed with a new key under a new `kid` from now on; the
   * JWKS endpoint publishes old and new keys. Resolves with the new kid.
   */
  rotateSigningKey(): Promise<string>;
  /** The JWKS endpoint publishes a different key under the signing `kid` (a forged key set). */
  forgeKeySet(): Promise<void>;
  /** While down, the JWKS endpoint answers 503 (everything else works). */
  setKeySetDown(down: boolean): void;
  /** Back to the provider's own signing key and key set, served again. */
  resetSigningKeys(): void;
  /**
   * Ends every provider session of a user (username or sub), like Keycloak's
   * admin "Sign out": back-channel logout to each client that has a URI, then
   * all of the user's grants (refresh tokens) revoked. Resolves with the number
   * of sessions ended, once the logout tokens have been delivered.
   */
  endSessionsOf(usernameOrSub: string): Promise<number>;
  /**
   * A logout token (Back-Channel Logout 1.0) signed with the provider's key.
   * Defaults: iss, aud = first client, iat = now, exp = now + 120 s, jti, events.
   * A claim given as `undefined` is left out (e.g. `{ events: undefined }`).
   */
  signLogoutToken(claims?: Record<string, unknown>, options?: LogoutTokenOptions): Promise<string>;
  /**
   * Closes the port (connections refused) and drops open connections, like a
   * provider process that was stopped; keys, clients, sessions and grants stay.
   * `startListening` opens the same port again: the restarted provider.
   * `graceful`: requests under way are answered first (as Keycloak's own
   * shutdown does), then the connections close; without it they are cut, as
   * in a crash, and a refresh the provider had committed never reaches the
   * client.
   */
  stopListening(options?: { graceful?: boolean }): Promise<void>;
  startListening(): Promise<void>;
  /** Stops listening and drops open connections. Safe to call twice. */
  close(): Promise<void>;
}

const DEFAULTS = {
  realm: 'demo',
  accessTokenTtlSeconds: 300,
  idTokenTtlSeconds: 300,
  refreshTokenTtlSeconds: 1800,
  ssoSessionMaxSeconds: 36_000,
  accessTokenAudience: 'account',
} as const;

/**
 * Starts an embedded oidc-provider 9 shaped like a Keycloak realm, on
 * 127.0.0.1, for the demo and the integration tests. Development only: the
 * users, keys and storage live in memory.
 */
export async function createDevIdentityProvider(options: DevIdentityProviderOptions = {}): Promise<DevIdentityProvider> {
  const realm = options.realm ?? DEFAULTS.realm;
  if (!/^[\w-]+$/.test(realm)) throw new TypeError(`realm must be letters, digits, _ or -: ${realm}`);
  const policy: DevTokenPolicy = {
    accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? DEFAULTS.accessTokenTtlSeconds,
    idTokenTtlSeconds: options.idTokenTtlSeconds ?? DEFAULTS.idTokenTtlSeconds,
    refreshTokenTtlSeconds: options.refreshTokenTtlSeconds ?? DEFAULTS.refreshTokenTtlSeconds,
    ssoSessionMaxSeconds: options.ssoSessionMaxSeconds ?? DEFAULTS.ssoSessionMaxSeconds,
    rotateRefreshTokens: options.rotateRefreshTokens ?? true,
  };
  assertPolicy(policy);

  const oidc = await importOidcProvider();
  const jwks = options.jwks ?? (await generateSigningJwks());
  const publicJwks = toPublicJwks(jwks);
  const signingJwk = jwks.keys[0];
  if (!signingJwk) throw new TypeError('jwks must hold at least one private key');

  const server = http.createServer();
  await listen(server, options.port ?? 0);
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const basePath = `/realms/${realm}`;
  const issuer = `${url}${basePath}`;

  const users = createDevUserDirectory(options.users ?? DEFAULT_DEV_USERS);
  const allUsers = options.users ?? DEFAULT_DEV_USERS;
  const store = createDevMemoryStore();
  const pendingRefreshFailures: RefreshFailure[] = [];
  const pendingCodeExchangeFailures: TokenEndpointFailure[] = [];
  const pendingRevocationFailures: TokenEndpointFailure[] = [];
  const signingKeys = createDevSigningKeys(publicJwks);
  const counters: DevProviderCounters = {
    authorizationCodeGrants: 0,
    refreshGrants: 0,
    refreshGrantErrors: 0, revocations: 0,
    jwksFetches: 0,
    tokenExchangeGrants: 0,
    tokenExchangeErrors: 0,
    clientCredentialsGrants: 0,
  };
  const backchannelDeliveries: BackchannelDelivery[] = [];
  const serverErrors: unknown[] = [];
  const clientIds: string[] = [];
  let down: DownMode | undefined;
  let latencyMs = 0;
  const holds = new Map<string, { gate: Promise<void>; count: number }>();

  // Mounted like koa-mount, the provider sets some cookies through our app's
  // context and reads them through its own: both must sign with the same keys.
  const cookieKeys = [randomBytes(32).toString('base64url')];
  const provider = new oidc.Provider(issuer, createDevProviderConfiguration({
    errors: oidc.errors,
    interactionPolicy: oidc.interactionPolicy,
    cookieKeys,
    basePath,
    jwks: jwks as JWKS,
    users,
    store,
    policy,
    accessTokenAudience: options.accessTokenAudience ?? DEFAULTS.accessTokenAudience,
    pendingRefreshFailures,
    pushedAuthorizationRequests: options.pushedAuthorizationRequests ?? 'on',
    dpop: { nonceSecret: randomBytes(32), requireNonce: options.dpopNonces ?? true },
  }));
  // Keycloak always puts `sid` in the ID token; oidc-provider only for clients
  // with a back-channel logout URI and backchannel_logout_session_required.
  provider.Client.prototype.includeSid = () => true;
  registerDevTokenExchange(provider, {
    errors: oidc.errors,
    issuer,
    signingJwk: signingJwk as JWK,
    publicJwks,
    users,
    isClient: (clientId) => clientIds.includes(clientId),
    isSessionActive: (sid) => findSessions((authorization) => authorization.sid === sid, store).length > 0,
    accessTokenTtlSeconds: () => policy.accessTokenTtlSeconds,
  });
  countGrants(provider, counters);
  provider.on('server_error', (_ctx, err) => {
    if (!err.message.includes(SIMULATED_FAILURE_MARK)) serverErrors.push(err);
  });
  provider.on('backchannel.success', (_ctx, client, sub, sid) => {
    backchannelDeliveries.push({ clientId: client.clientId, sub, sid, ok: true });
  });
  provider.on('backchannel.error', (_ctx, err, client, sub, sid) => {
    backchannelDeliveries.push({ clientId: client.clientId, sub, sid, ok: false, error: err.message });
  });

  const app = new Koa();
  app.keys = cookieKeys;
  app.silent = true; // errors are collected in serverErrors, never printed
  app.on('error', (err) => serverErrors.push(err));
  app.use(async (ctx, next) => {
    if (latencyMs > 0) await sleep(latencyMs);
    const hold = ctx.method === 'POST' ? holds.get(ctx.path) : undefined;
    if (hold) {
      hold.count += 1;
      await hold.gate;
    }
    if (down === 'connection-reset') {
      ctx.respond = false;
      ctx.req.socket.destroy();
      return;
    }
    if (down === 'http-503') {
      ctx.status = 503;
      ctx.body = { error: 'temporarily_unavailable', error_description: 'identity provider is down (setDown)' };
      return;
    }
    await next();
  });
  app.use(createDevUserinfo({
    issuer,
    path: `${basePath}${KEYCLOAK_ROUTES.userinfo}`,
    publicJwks,
    users,
    isSessionActive: (sid) => findSessions((authorization) => authorization.sid === sid, store).length > 0,
  }));
  app.use(createDevLoginRoutes({ provider, errors: oidc.errors, basePath, realm, users }));
  if (options.undecodedBasicCredentials) app.use(undecodedBasicCredentials());
  app.use(signingKeys.middleware(`${basePath}${KEYCLOAK_ROUTES.jwks}`, () => (counters.jwksFetches += 1)));
  app.use(mountProvider(provider, basePath, counters, { signingKeys, pendingCodeExchangeFailures, pendingRevocationFailures }));
  server.on('request', app.callback());

  async function setClient(client: DevClient): Promise<void> {
    const metadata = toClientMetadata(client);
    await provider.Client.validate(metadata);
    store.upsert('Client', client.client_id, metadata);
    if (!clientIds.includes(client.client_id)) clientIds.push(client.client_id);
  }
  for (const client of options.clients ?? []) await setClient(client);

  async function endSessionsOf(usernameOrSub: string): Promise<number> {
    const user = allUsers.find((candidate) => candidate.username === usernameOrSub);
    const sub = user ? subjectOf(user) : usernameOrSub;
    const sessions = store.entries('Session').filter(([, session]) => session.accountId === sub);
    for (const [sessionId, session] of sessions) {
      for (const [clientId, authorization] of Object.entries(session.authorizations ?? {})) {
        const client = await provider.Client.find(clientId);
        if (client?.backchannelLogoutUri && authorization.sid) {
          const sid = authorization.sid;
          // Client#backchannelLogout is oidc-provider's own sender (missing from @types/oidc-provider).
          const sender = client as unknown as { backchannelLogout(sub: string, sid: string): Promise<void> };
          await sender.backchannelLogout(sub, sid).then(
            () => backchannelDeliveries.push({ clientId, sub, sid, ok: true }),
            (err: Error) => backchannelDeliveries.push({ clientId, sub, sid, ok: false, error: err.message }),
          );
        }
        if (authorization.grantId) store.revokeGrant(authorization.grantId);
      }
      store.destroy('Session', sessionId);
    }
    return sessions.length;
  }

  async function signLogoutToken(claims: Record<string, unknown> = {}, tokenOptions: LogoutTokenOptions = {}): Promise<string> {
    const jwk = tokenOptions.privateJwk ?? signingJwk!;
    const alg = jwk.alg ?? 'RS256';
    const now = Math.floor(Date.now() / 1000);
    const payload = withoutUndefined({
      iss: issuer,
      aud: clientIds[0],
      iat: now,
      exp: now + 120,
      jti: randomUUID(),
      events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
      ...claims,
    });
    const header = withoutUndefined({ alg, kid: jwk.kid, typ: 'logout+jwt', ...tokenOptions.header });
    return new SignJWT(payload)
      .setProtectedHeader(header as { alg: string })
      .sign(await importJWK(jwk, alg));
  }

  let closed: Promise<void> | undefined;
  function close(): Promise<void> {
    closed ??= stopListening();
    return closed;
  }

  function stopListening(options: { graceful?: boolean } = {}): Promise<void> {
    if (!server.listening) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      if (!options.graceful) {
        server.closeAllConnections();
        return;
      }
      // Kept-alive connections close as soon as their answer is out; whatever is still open after 10 s is cut.
      server.closeIdleConnections();
      const sweep = setInterval(() => server.closeIdleConnections(), 20);
      const deadline = setTimeout(() => server.closeAllConnections(), 10_000);
      server.once('close', () => {
        clearInterval(sweep);
        clearTimeout(deadline);
      });
    });
  }

  async function startListening(): Promise<void> {
    if (closed) throw new Error('startListening() after close(): the provider is gone');
    if (!server.listening) await listen(server, port);
  }

  return {
    issuer,
    port,
    url,
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    jwks,
    publicJwks,
    counters,
    backchannelDeliveries,
    serverErrors,
    provider,
    setClient,
    setTokenPolicy(change) {
      const next = { ...policy, ...withoutUndefined(change) };
      assertPolicy(next);
      Object.assign(policy, next);
    },
    setDown(isDown, mode = 'http-503') {
      down = isDown ? mode : undefined;
    },
    setLatencyMs(ms) {
      latencyMs = Math.max(0, ms);
    },
    holdRequests(endpoint) {
      const path = `${basePath}${KEYCLOAK_ROUTES[endpoint]}`;
      let open!: () => void;
      const hold = { gate: new Promise<void>((resolve) => (open = resolve)), count: 0 };
      holds.set(path, hold);
      return {
        held: () => hold.count,
        release() {
          if (holds.get(path) === hold) holds.delete(path);
          open();
        },
      };
    },
    failNextRefresh(kind, times = 1) {
      for (let i = 0; i < times; i += 1) pendingRefreshFailures.push(kind);
    },
    failNextCodeExchange(kind, times = 1) {
      for (let i = 0; i < times; i += 1) pendingCodeExchangeFailures.push(kind);
    },
    failNextRevocation(kind, times = 1) {
      for (let i = 0; i < times; i += 1) pendingRevocationFailures.push(kind);
    },
    clearPendingFailures() {
      pendingRefreshFailures.length = 0;
      pendingCodeExchangeFailures.length = 0;
      pendingRevocationFailures.length = 0;
    },
    rotateSigningKey: () => signingKeys.rotate(),
    forgeKeySet: () => signingKeys.forgeKeySet(),
    setKeySetDown: (isDown) => signingKeys.setDown(isDown),
    resetSigningKeys: () => signingKeys.reset(),
    endSessionsOf,
    signLogoutToken,
    stopListening,
    startListening,
    close,
  };
}

/**
 * Runs the provider's middleware on our context with the realm prefix
 * stripped, as koa-mount does (oidc-provider reads `ctx.mountPath` to build
 * its URLs), then adds Keycloak's extra token response members, or reshapes
 * the answer as a simulated failure asks, and re-signs a rotated ID token.
 */
function mountProvider(
  provider: Provider,
  basePath: string,
  counters: DevProviderCounters,
  tokens: { signingKeys: DevSigningKeys; pendingCodeExchangeFailures: TokenEndpointFailure[]; pendingRevocationFailures: TokenEndpointFailure[] },
): Middleware {
  return async function providerAtRealmPath(ctx: Context, next: Next): Promise<void> {
    const path = ctx.path;
    if (path !== basePath && !path.startsWith(`${basePath}/`)) return next();
    (ctx as Context & { mountPath?: string }).mountPath = basePath;
    ctx.path = path.slice(basePath.length) || '/';
    try {
      await runMiddleware(provider.middleware as Middleware[], ctx);
    } finally {
      ctx.path = path;
    }
    const oidcCtx = (ctx as Partial<KoaContextWithOIDC>).oidc;
    if (oidcCtx?.route === 'token') {
      const simulated = ctx.state[SIMULATED_ANSWER_STATE] as TokenEndpointFailure | undefined;
      const codeFailure = oidcCtx.params?.['grant_type'] === 'authorization_code' ? tokens.pendingCodeExchangeFailures.shift() : undefined;
      if (simulated ?? codeFailure) {
        answerAs(ctx, (simulated ?? codeFailure)!);
        return;
      }
      addKeycloakTokenMembers(ctx, oidcCtx);
      await tokens.signingKeys.resignIdToken(ctx);
    }
    if (oidcCtx?.route === 'revocation') {
      const failure = tokens.pendingRevocationFailures.shift();
      if (failure) answerAs(ctx, failure);
      else if (ctx.status === 200) counters.revocations += 1;
    }
  };
}

function runMiddleware(stack: Middleware[], ctx: Context): Promise<void> {
  const dispatch = async (i: number): Promise<void> => {
    const middleware = stack[i];
    if (middleware) await middleware(ctx, () => dispatch(i + 1));
  };
  return dispatch(0);
}

/** Keycloak's `refresh_expires_in` (seconds the returned refresh token lives; 0 = none) and `not-before-policy`. */
function addKeycloakTokenMembers(ctx: Context, oidcCtx: KoaContextWithOIDC['oidc']): void {
  const body: unknown = ctx.body;
  if (ctx.status !== 200 || !body || typeof body !== 'object') return;
  const refreshToken = oidcCtx.entities.RefreshToken;
  const hasRefreshToken = typeof (body as { refresh_token?: unknown }).refresh_token === 'string';
  // remainingTTL: the TTL of a token just issued, or what is left of a presented one (no rotation).
  const refreshExpiresIn = hasRefreshToken && refreshToken ? Math.max(0, refreshToken.remainingTTL) : 0;
  ctx.body = { ...body, refresh_expires_in: refreshExpiresIn, 'not-before-policy': 0 };
}

function countGrants(provider: Provider, counters: DevProviderCounters): void {
  const grantTypeOf = (ctx: KoaContextWithOIDC) => ctx.oidc.params?.['grant_type'];
  provider.on('grant.success', (ctx) => {
    const grantType = grantTypeOf(ctx);
    if (grantType === 'refresh_token') counters.refreshGrants += 1;
    if (grantType === 'authorization_code') counters.authorizationCodeGrants += 1;
    if (grantType === TOKEN_EXCHANGE_GRANT) counters.tokenExchangeGrants += 1;
    if (grantType === 'client_credentials') counters.clientCredentialsGrants += 1;
  });
  provider.on('grant.error', (ctx) => {
    if (grantTypeOf(ctx) === 'refresh_token') counters.refreshGrantErrors += 1;
    if (grantTypeOf(ctx) === TOKEN_EXCHANGE_GRANT) counters.tokenExchangeErrors += 1;
  });
}

function findSessions(
  predicate: (authorization: { sid?: string | undefined; grantId?: string | undefined }) => boolean,
  store: DevMemoryStore,
) {
  return store.entries('Session').filter(([, session]) => Object.values(session.authorizations ?? {}).some(predicate));
}

function toClientMetadata(client: DevClient): ClientMetadata {
  return withoutUndefined({
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris,
    post_logout_redirect_uris: client.post_logout_redirect_uris,
    backchannel_logout_uri: client.backchannel_logout_uri,
    backchannel_logout_session_required: true,
    // Keycloak puts auth_time in every ID token (step-up routes judge a login's age by it).
    require_auth_time: true,
    token_endpoint_auth_method: client.token_endpoint_auth_method ?? (client.client_secret ? 'client_secret_basic' : 'none'),
    jwks: client.jwks,
    require_pushed_authorization_requests: client.require_pushed_authorization_requests,
    dpop_bound_access_tokens: client.dpop_bound_access_tokens,
    // Confidential clients may also use client credentials (Keycloak's service accounts) and standard token exchange.
    grant_types: client.client_secret
      ? ['authorization_code', 'refresh_token', 'client_credentials', TOKEN_EXCHANGE_GRANT]
      : ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  }) as ClientMetadata;
}

/**
 * Imports oidc-provider, dropping the one warning it prints at import time on
 * Node 20 ("Unsupported runtime. Use Node.js v22.x LTS"): oidc-provider 9 is
 * supported on Node 22+, and runs on 20 as far as this dev provider needs.
 * Every other warning passes through.
 */
async function importOidcProvider(): Promise<typeof import('oidc-provider')> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].includes('oidc-provider WARNING: Unsupported runtime')) return;
    warn(...args);
  };
  try {
    return await import('oidc-provider');
  } finally {
    console.warn = warn;
  }
}

async function generateSigningJwks(): Promise<JSONWebKeySet> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { keys: [{ ...jwk, kid: `dev-${randomUUID().slice(0, 8)}`, alg: 'RS256', use: 'sig' }] };
}

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

function toPublicJwks(jwks: JSONWebKeySet): JSONWebKeySet {
  return {
    keys: jwks.keys.map((key) =>
      Object.fromEntries(Object.entries(key).filter(([member]) => !PRIVATE_JWK_MEMBERS.includes(member))) as JWK),
  };
}

function assertPolicy(policy: DevTokenPolicy): void {
  for (const name of ['accessTokenTtlSeconds', 'idTokenTtlSeconds', 'refreshTokenTtlSeconds', 'ssoSessionMaxSeconds'] as const) {
    if (!Number.isSafeInteger(policy[name]) || policy[name] < 1) {
      throw new TypeError(`${name} must be a positive integer number of seconds, got ${policy[name]}`);
    }
  }
}

function withoutUndefined<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, member]) => member !== undefined)) as T;
}

function listen(server: http.Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}
