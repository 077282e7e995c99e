import { randomBytes } from 'node:crypto';
import { importJWK } from 'jose';
import * as oidc from 'openid-client';
import type { ClientAuth, Config } from '../config/config.js';
import { InvalidProviderResponseError, ProviderUnavailableError } from '../errors.js';
import type { DpopPrivateJwk } from '../session/session-store.js';
import { dpopCryptoKeyPair } from './dpop-key.js';
import { verifyIdTokenSignature } from './id-token-signature.js';
import { mapOidcFailure, type OidcOperation } from './map-oidc-error.js';
import { createProviderJwks, type ProviderJwks } from './provider-jwks.js';

type OidcConfig = Config['oidc'];

export interface OidcLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** A token endpoint answer, normalised. */
export interface TokenResponse {
  readonly access_token: string;
  readonly token_type: string;
  readonly refresh_token?: string;
  readonly id_token?: string;
  readonly scope?: string;
  /** Seconds. */
  readonly expires_in?: number;
  /** Keycloak's refresh-token lifetime in seconds; 0 or absent = not stated. */
  readonly refresh_expires_in?: number;
  /** Validated ID token claims, when an ID token came back. */
  readonly id_token_claims?: Readonly<Record<string, unknown>>;
}

export interface OidcClient {
  /** True once discovery has loaded (readiness depends on it). */
  isReady(): boolean;
  /** Provider metadata; undefined until discovery has loaded. */
  metadata(): oidc.ServerMetadata | undefined;
  /** The provider's published signing keys (jwks_uri), cached; shared with logout-token checks. */
  readonly keys: ProviderJwks;
  /**
   * Authorization request URL (code flow, PKCE S256); rejects with 503 until
   * discovery has loaded. With PAR (OIDC_PAR) the parameters are pushed to the
   * provider first and the URL carries only client_id and request_uri.
   */
  authorizationUrl(params: { state: string; nonce: string; codeChallenge: string; extra?: Record<string, string> }): Promise<URL>;
  /**
   * Exchanges the code at the token endpoint and validates the ID token (iss, aud, nonce, signature, expiry,
   * and with `maxAge` (seconds, the max_age sent) its auth_time).
   * With `dpopKey` (OIDC_DPOP) the request carries a DPoP proof of it, so the tokens are bound to that key;
   * a provider's `use_dpop_nonce` challenge is answered once with its nonce (openid-client does it).
   */
  exchangeCode(
    callbackUrl: URL,
    checks: { state: string; nonce: string; codeVerifier: string; maxAge?: number | undefined },
    dpopKey?: DpopPrivateJwk,
  ): Promise<TokenResponse>;
  /**
   * Refresh token grant. Rejects with InvalidGrantError when the provider refused
   * the grant (any 400), ProviderRejectedClientError on a 401/403 (our client
   * credentials), ProviderUnavailableError for everything else. A new ID token
   * is checked like the login's (signature against the provider's keys) and
   * must name `expectedSub` (OpenID Connect Core §12.2), else
   * InvalidProviderResponseError: its acr and auth_time replace the session's.
   */
  refresh(refreshToken: string, dpopKey?: DpopPrivateJwk, expectedSub?: string): Promise<TokenResponse>;
  /**
   * Any other grant at the token endpoint, as this client (token exchange, client credentials). Rejects
   * with ProviderUnavailableError for transport trouble and 5xx, a 4xx GatewayError when refused, and
   * ProviderRejectedClientError (502) when the provider refuses the gateway's own credentials.
   */
  grant(grantType: string, parameters: Record<string, string>): Promise<TokenResponse>;
  /** Userinfo claims, or null when the provider has no userinfo endpoint. A DPoP-bound token needs its key's proof. */
  userInfo(accessToken: string, expectedSub: string, dpopKey?: DpopPrivateJwk): Promise<Record<string, unknown> | null>;
  /** Revokes a token where the provider offers revocation; a no-op otherwise. */
  revoke(token: string, hint: 'refresh_token' | 'access_token'): Promise<void>;
  /** RP-initiated logout URL with a random `state`, or null when the provider has no end_session_endpoint. */
  endSessionUrl(params: Record<string, string>): string | null;
  close(): void;
}

export interface OidcClientDeps {
  config: OidcConfig;
  logger: OidcLogger;
  /** Discovery retry backoff, doubled per attempt up to maxDelayMs. */
  retry?: { initialDelayMs: number; maxDelayMs: number };
}

/**
 * The gateway's view of the provider (openid-client v6). Discovery runs in the
 * background and is retried with backoff while the provider is not up yet, so
 * the gateway can start before Keycloak does; /readyz says so meanwhile.
 */
export function createOidcClient(deps: OidcClientDeps): OidcClient {
  const { config, logger } = deps;
  const retry = deps.retry ?? { initialDelayMs: 500, maxDelayMs: 30_000 };
  let configuration: oidc.Configuration | undefined;
  // The same client with a longer timeout, for refresh grants only (refreshGrantTimeoutMs).
  let refreshConfiguration: oidc.Configuration | undefined;
  let usePar = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  const load = async (attempt: number): Promise<void> => {
    if (closed) return;
    try {
      const discovered = await discover(config);
      usePar = pushesAuthorizationRequests(config.par, discovered.main.serverMetadata());
      configuration = discovered.main;
      refreshConfiguration = discovered.refresh;
      logger.info({ issuer: config.issuer, attempt, ...(usePar ? { par: true } : {}) }, 'identity provider discovered');
    } catch (err) {
      const delay = Math.min(retry.maxDelayMs, retry.initialDelayMs * 2 ** Math.min(attempt, 16));
      const fields = { issuer: config.issuer, discovery_url: config.discoveryUrl.href, attempt, retry_in_ms: delay, err: describe(err) };
      // One line per attempt, spaced by the backoff: not noisy, but visible. A provider that
      // cannot do what the operator asked for is the operator's problem: error, not warn.
      if (err instanceof ProviderMismatchError) logger.error(fields, 'identity provider cannot serve this configuration; not ready, retrying');
      else logger.warn(fields, 'identity provider discovery failed; retrying');
      timer = setTimeout(() => void load(attempt + 1), delay);
      timer.unref();
    }
  };
  void load(0);

  const ready = (): oidc.Configuration => {
    if (!configuration) throw new ProviderUnavailableError(new Error('discovery has not completed'));
    return configuration;
  };

  const guarded = async <T>(operation: OidcOperation, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw await mapOidcFailure(err, operation);
    }
  };
  /** openid-client's DPoP option for a session's key (a handle per call: it also keeps the nonce it learns). */
  const dpopOption = async (c: oidc.Configuration, key: DpopPrivateJwk | undefined): Promise<{ DPoP?: oidc.DPoPHandle }> =>
    key === undefined ? {} : { DPoP: oidc.getDPoPHandle(c, await dpopCryptoKeyPair(key)) };
  const keys = createProviderJwks({ metadata: () => configuration?.serverMetadata(), timeoutMs: config.timeoutMs });

  return {
    isReady: () => configuration !== undefined,
    metadata: () => configuration?.serverMetadata(),
    keys,

    async authorizationUrl({ state, nonce, codeChallenge, extra = {} }) {
      const c = ready();
      const parameters = {
        ...extra,
        redirect_uri: config.redirectUri,
        response_type: 'code',
        scope: config.scopes,
        state,
        nonce,
        code_challenge: codeChallenge,
        code_challenge_method: 'S256',
      };
      if (!usePar) return oidc.buildAuthorizationUrl(c, parameters);
      return guarded('par', () => oidc.buildAuthorizationUrlWithPAR(c, parameters));
    },

    exchangeCode(callbackUrl, checks, dpopKey) {
      return guarded('code_exchange', async () => {
        const c = ready();
        const tokens = await oidc.authorizationCodeGrant(
          c,
          callbackUrl,
          {
            expectedState: checks.state,
            expectedNonce: checks.nonce,
            pkceCodeVerifier: checks.codeVerifier,
            idTokenExpected: true,
            // OpenID Connect Core §3.1.2.1: with max_age sent, auth_time must be present and recent enough.
            ...(checks.maxAge !== undefined ? { maxAge: checks.maxAge } : {}),
          },
          undefined,
          await dpopOption(c, dpopKey),
        );
        // idTokenExpected: openid-client has refused an answer without one.
        await verifyIdTokenSignature(tokens.id_token!, keys.refetchingOnce);
        return toTokenResponse(tokens);
      });
    },

    refresh(refreshToken, dpopKey, expectedSub) {
      return guarded('refresh', async () => {
        ready();
        const c = refreshConfiguration!;
        const tokens = await oidc.refreshTokenGrant(c, refreshToken, undefined, await dpopOption(c, dpopKey));
        if (tokens.id_token !== undefined) {
          // openid-client checks a refreshed ID token's claims, not its signature (as at the callback), and
          // cannot know whose session it refreshes: the new acr/auth_time must not come from a forged token.
          await verifyIdTokenSignature(tokens.id_token, keys.refetchingOnce);
          const sub = tokens.claims()?.sub;
          if (expectedSub !== undefined && sub !== expectedSub) {
            throw new InvalidProviderResponseError('the refreshed ID token names another subject than the login');
          }
        }
        return toTokenResponse(tokens);
      });
    },

    grant(grantType, parameters) {
      // Judged like the code exchange: a grant made on the gateway's own initiative, where only a 400 says "no".
      return guarded('code_exchange', async () => toTokenResponse(await oidc.genericGrantRequest(ready(), grantType, parameters)));
    },

    userInfo(accessToken, expectedSub, dpopKey) {
      return guarded('userinfo', async () => {
        const c = ready();
        if (!c.serverMetadata().userinfo_endpoint) return null;
        return { ...(await oidc.fetchUserInfo(c, accessToken, expectedSub, await dpopOption(c, dpopKey))) };
      });
    },

    revoke(token, hint) {
      return guarded('revocation', async () => {
        const c = ready();
        if (!c.serverMetadata().revocation_endpoint) return;
        await oidc.tokenRevocation(c, token, { token_type_hint: hint });
      });
    },

    endSessionUrl(params) {
      const c = configuration;
      if (!c?.serverMetadata().end_session_endpoint) return null;
      // Harmless where unused; some providers (Glewlwyd) redirect back only when a state is given.
      const url = oidc.buildEndSessionUrl(c, { state: randomBytes(16).toString('base64url'), ...params });
      // openid-client always adds client_id; the contract sends it only in place of a missing id_token_hint.
      if (url.searchParams.has('id_token_hint')) url.searchParams.delete('client_id');
      return url.href;
    },

    close() {
      closed = true;
      if (timer) clearTimeout(timer);
    },
  };
}

async function discover(config: OidcConfig): Promise<{ main: oidc.Configuration; refresh: oidc.Configuration }> {
  // Fetched by hand rather than with oidc.discovery(): OIDC_DISCOVERY_URL may be
  // an in-cluster name while the issuer stays the public one, and the issuer
  // check must compare against OIDC_ISSUER, not against the URL we fetched.
  const response = await fetch(config.discoveryUrl, {
    headers: { accept: 'application/json' },
    signal: AbortSignal.timeout(config.timeoutMs),
  });
  if (!response.ok) throw new Error(`discovery answered HTTP ${response.status}`);
  const metadata = (await response.json()) as oidc.ServerMetadata;
  if (metadata.issuer !== config.issuer) {
    throw new Error(`discovery issuer "${metadata.issuer}" does not equal OIDC_ISSUER "${config.issuer}"`);
  }
  if (config.par === 'true' && !metadata.pushed_authorization_request_endpoint) {
    throw new ProviderMismatchError('OIDC_PAR=true, but the provider advertises no pushed_authorization_request_endpoint');
  }
  const clientAuth = await clientAuthentication(config.clientAuth);
  const configured = (timeoutMs: number) => {
    const configuration = new oidc.Configuration(metadata, config.clientId, 'secret' in config.clientAuth ? config.clientAuth.secret : undefined, clientAuth);
    configuration.timeout = timeoutMs / 1000;
    if (config.allowInsecureHttp) {
      // Gated by loadConfig: only outside production, or with OIDC_ALLOW_INSECURE_HTTP=true.
      // eslint-disable-next-line @typescript-eslint/no-deprecated
      oidc.allowInsecureRequests(configuration);
    }
    return configuration;
  };
  return { main: configured(config.timeoutMs), refresh: configured(refreshGrantTimeoutMs(config.timeoutMs)) };
}

/**
 * How long a refresh grant may take before the gateway gives up on its answer:
 * longer than OIDC_TIMEOUT_MS, which bounds how long a request waits for it
 * (token-refresher.ts). With rotating refresh tokens a grant abandoned while
 * the provider still works on it spends the old refresh token, and the next
 * attempt is refused as a reuse: the session is lost. An overloaded provider
 * (a herd of expiries after an outage) answers late, not never.
 */
export function refreshGrantTimeoutMs(oidcTimeoutMs: number): number {
  return Math.max(oidcTimeoutMs, Math.min(3 * oidcTimeoutMs, 60_000), 30_000);
}

/** Discovery worked, but the provider lacks what the configuration needs: retried, logged at error. */
class ProviderMismatchError extends Error {}

/** OIDC_PAR against what discovery says: `auto` pushes only when the provider requires it. */
function pushesAuthorizationRequests(mode: OidcConfig['par'], metadata: oidc.ServerMetadata): boolean {
  if (mode === 'true') return true;
  if (mode === 'false') return false;
  return Boolean(metadata.pushed_authorization_request_endpoint) && metadata.require_pushed_authorization_requests === true;
}

/** OIDC_CLIENT_AUTH as openid-client's ClientAuth. */
async function clientAuthentication(auth: ClientAuth): Promise<oidc.ClientAuth> {
  switch (auth.method) {
    case 'private_key_jwt': {
      // Checked by loadConfig; the CryptoKey import is async, so it happens here, once.
      const key = (await importJWK({ ...auth.key.jwk }, auth.key.alg === 'Ed25519' ? 'EdDSA' : auth.key.alg)) as oidc.CryptoKey;
      return oidc.PrivateKeyJwt({ key, kid: auth.key.kid });
    }
    case 'client_secret_basic':
      return oidc.ClientSecretBasic(auth.secret);
    case 'client_secret_post':
      return oidc.ClientSecretPost(auth.secret);
    case 'none':
      return oidc.None();
  }
}

function toTokenResponse(tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers): TokenResponse {
  const claims = tokens.claims();
  const refreshExpiresIn = tokens['refresh_expires_in'];
  return {
    access_token: tokens.access_token,
    token_type: tokens.token_type,
    ...(tokens.refresh_token !== undefined ? { refresh_token: tokens.refresh_token } : {}),
    ...(tokens.id_token !== undefined ? { id_token: tokens.id_token } : {}),
    ...(tokens.scope !== undefined ? { scope: tokens.scope } : {}),
    ...(tokens.expires_in !== undefined ? { expires_in: tokens.expires_in } : {}),
    ...(typeof refreshExpiresIn === 'number' ? { refresh_expires_in: refreshExpiresIn } : {}),
    ...(claims ? { id_token_claims: { ...claims } } : {}),
  };
}

function describe(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return [e?.message, e?.cause?.code ?? e?.cause?.message].filter(Boolean).join(': ');
}
