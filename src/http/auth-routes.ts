import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { Clock } from '../clock.js';
import type { Config } from '../config/config.js';
import { AcrNotSatisfiedError, GatewayError, InvalidRequestError, ProviderRejectedClientError, ProviderRejectedError } from '../errors.js';
import {
  LOGIN_TRANSACTION_TTL_MS,
  createLoginTransaction,
  parseTransaction,
  serializeTransaction,
  stateCookieSuffix,
} from '../oidc/login-transaction.js';
import { authContextOf } from '../oidc/auth-context.js';
import { generateDpopKey } from '../oidc/dpop-key.js';
import type { OidcClient } from '../oidc/oidc-client.js';
import type { Metrics } from '../ops/metrics.js';
import { accessTokenExpiresAtMs, buildUserInfo } from '../oidc/user-claims.js';
import type { SessionCookieCodec } from '../session/session-cookie.js';
import { idleExpiresAtMs, sessionExpiresAtMs } from '../session/session-lifetime.js';
import type { SessionRecord, SessionStore } from '../session/session-store.js';
import { assertLogoutAllowed } from './csrf.js';
import type { GatewayState } from './gateway-state.js';
import { safeReturnTo } from './return-to.js';
import { setCookie } from './set-cookie.js';
import type { SessionDraft } from './koa-session-store.js';
import type { SessionAccess } from './session-access.js';
import type { SessionLayer } from './session-layer.js';
import { sessionOf } from './session-view.js';
import { answerSilentLogin } from './silent-login-page.js';

export interface AuthRoutesDeps {
  config: Config;
  store: SessionStore;
  oidc: OidcClient;
  sessions: SessionAccess;
  /** koa-session over the store: loads the session of /auth/callback, /me and /logout, and starts new ones. */
  sessionLayer: SessionLayer;
  /** Signs the login-binding cookie with the session-cookie key. */
  cookies: SessionCookieCodec;
  clock: Clock;
  metrics?: Metrics;
}

type Ctx = Context & { state: GatewayState };

/** Authorization-request parameters a SPA may pass through /auth/login (Keycloak's kc_idp_hint included). */
const PASS_THROUGH = ['prompt', 'login_hint', 'kc_idp_hint', 'ui_locales', 'acr_values'] as const;
/** Callback parameters that must appear at most once (RFC 6749 §3.1). */
const SINGLE_CALLBACK_PARAMS = ['code', 'state', 'error', 'error_description', 'iss', 'session_state'];
const MAX_PARAM_LENGTH = 2048;
/** A prompt=none login's "no, not without the user" answers (OpenID Connect Core §3.1.2.6): the silent page says isLoggedIn:false. */
const NOT_SILENTLY = new Set(['login_required', 'interaction_required', 'consent_required', 'account_selection_required']);

/** /auth/login, /auth/silent-login, /auth/callback, /auth/me and /auth/logout (CONTRACT.md "Public routes"). */
export function createAuthRoutes(deps: AuthRoutesDeps): Router<GatewayState> {
  const { config, store, oidc, sessions, sessionLayer, cookies, clock, metrics } = deps;
  const router = new Router<GatewayState>({ prefix: '/auth' });
  const publicOrigin = config.publicUrl.origin;
  const txKey = (state: string) => `tx:${state}`;
  const bindingCookie = (state: string) => `${config.session.cookieName}_tx_${stateCookieSuffix(state)}`;
  const setBinding = (ctx: Ctx, state: string, value: string, maxAgeSeconds: number) =>
    setCookie(ctx, bindingCookie(state), value, { path: '/auth/callback', secure: config.secureCookies, maxAgeSeconds });

  router.get('/login', (ctx: Ctx) => redirectToLogin(ctx, { silent: false }));

  // For a hidden iframe of the SPA: the same login with prompt=none, so the provider answers at once
  // (logged in, or login_required) and the callback answers a page that posts the outcome to the SPA.
  router.get('/silent-login', (ctx: Ctx) => redirectToLogin(ctx, { silent: true }));

  async function redirectToLogin(ctx: Ctx, options: { silent: boolean }): Promise<void> {
    await enforceLoginRateLimit(ctx);
    const extra: Record<string, string> = {};
    for (const name of PASS_THROUGH) {
      const value = ctx.query[name];
      if (typeof value === 'string' && value.length > 0 && value.length <= 256) extra[name] = value;
    }
    if (options.silent) extra['prompt'] = 'none';
    const maxAge = maxAgeOf(ctx.query['max_age']);
    if (maxAge !== undefined) extra['max_age'] = String(maxAge);
    // Step-up (RFC 9470): the callback checks that the provider gave what these two asked for.
    const { transaction, codeChallenge } = await createLoginTransaction(safeReturnTo(ctx.query['returnTo']), {
      ...options,
      acrValues: extra['acr_values'],
      maxAge,
    });
    // Before anything is stored: a refused or failed push leaves no half-written login behind.
    const url = await oidc.authorizationUrl({ state: transaction.state, nonce: transaction.nonce, codeChallenge, extra });
    await store.putOnce(txKey(transaction.state), serializeTransaction(transaction), LOGIN_TRANSACTION_TTL_MS);
    setBinding(ctx, transaction.state, cookies.sign(transaction.state), LOGIN_TRANSACTION_TTL_MS / 1000);
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(url.href);
  }

  router.get('/callback', async (ctx: Ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const params = new URLSearchParams(ctx.querystring);
    for (const name of SINGLE_CALLBACK_PARAMS) {
      const values = params.getAll(name);
      if (values.length > 1) throw new InvalidRequestError('invalid_request', `The parameter ${name} was given more than once.`);
      if ((values[0]?.length ?? 0) > MAX_PARAM_LENGTH) throw new InvalidRequestError('invalid_request', `The parameter ${name} is too long.`);
    }
    const state = params.get('state');
    if (!state) {
      if (params.has('error')) throw providerError(params);
      throw new InvalidRequestError('invalid_state', 'The login response has no state; start the login again.');
    }
    // Login CSRF: only the browser that started this login holds its binding cookie.
    const binding = bindingCookie(state);
    const bound = cookies.verify(ctx.cookies.get(binding)) === state;
    setBinding(ctx, state, '', 0);
    if (!bound) {
      throw new InvalidRequestError('state_not_bound', 'This login was not started in this browser; start the login again.');
    }
    const stored = await store.takeOnce(txKey(state));
    const transaction = stored === null ? null : parseTransaction(stored);
    if (!transaction || transaction.state !== state) {
      throw new InvalidRequestError('invalid_state', 'This login has expired or was already used; start the login again.');
    }
    if (params.has('error')) {
      if (transaction.silent && NOT_SILENTLY.has(params.get('error') ?? '')) return answerSilentLogin(ctx, publicOrigin, false);
      throw providerError(params);
    }

    const callbackUrl = new URL(config.oidc.redirectUri);
    callbackUrl.search = ctx.querystring;
    // OIDC_DPOP: the session's key exists before its tokens do, so the provider binds them to it.
    const dpopKey = config.oidc.dpop ? generateDpopKey() : undefined;
    const tokens = await oidc.exchangeCode(
      callbackUrl,
      { state, nonce: transaction.nonce, codeVerifier: transaction.codeVerifier, maxAge: transaction.maxAge },
      dpopKey,
    );
    if (dpopKey && tokens.token_type.toLowerCase() !== 'dpop') {
      // The provider ignored the proof (DPoP off at the provider): dpop routes will send a token their API cannot bind.
      ctx.state.log.warn({ token_type: tokens.token_type }, 'OIDC_DPOP=true, but the provider issued unbound tokens; enable DPoP for this client at the provider');
    }
    const claims = tokens.id_token_claims ?? {};
    const sub = claims['sub'];
    if (typeof sub !== 'string') throw new InvalidRequestError('invalid_callback', 'The ID token has no subject.');
    const authContext = authContextOf(claims);
    if (!acrSatisfied(transaction.acrValues, authContext.acr)) {
      // A provider that ignores acr_values (Keycloak without an ACR-to-LoA mapping) would otherwise send the
      // browser back to a route that answers step_up_required again, and round again, without the user ever
      // being asked anything. The login is refused instead; the browser's previous session stays as it was.
      const requested = transaction.acrValues!.split(' ').filter(Boolean);
      ctx.state.log.warn(
        { event: 'acr_not_satisfied', sub, requested_acr: requested, acr: authContext.acr ?? null },
        'the identity provider did not honour acr_values; login refused, previous session kept',
      );
      if (transaction.silent) return answerSilentLogin(ctx, publicOrigin, false);
      throw new AcrNotSatisfiedError();
    }
    const userinfo = await oidc.userInfo(tokens.access_token, sub, dpopKey).catch((err: unknown) => {
      ctx.state.log.warn({ err: (err as Error).message }, 'userinfo unavailable at login; using ID token claims only');
      return null;
    });

    const now = clock();
    const sid = claims['sid'];
    const draft: SessionDraft = {
      sub,
      ...(typeof sid === 'string' ? { sid } : {}),
      user_info: buildUserInfo({ idTokenClaims: claims, userinfo, accessToken: tokens.access_token, rolesClaims: config.oidc.rolesClaims }),
      tokens: {
        access_token: tokens.access_token,
        token_type: tokens.token_type,
        ...(tokens.refresh_token !== undefined ? { refresh_token: tokens.refresh_token } : {}),
        ...(tokens.id_token !== undefined ? { id_token: tokens.id_token } : {}),
        ...(tokens.scope !== undefined ? { scope: tokens.scope } : {}),
        ...optional('access_expires_at_ms', accessTokenExpiresAtMs({ accessToken: tokens.access_token, expiresInSeconds: tokens.expires_in, nowMs: now })),
      },
      created_at_ms: now,
      expires_at_ms: sessionExpiresAtMs({
        createdAtMs: now,
        ttlSeconds: config.session.ttlSeconds,
        nowMs: now,
        refreshExpiresInSeconds: tokens.refresh_expires_in,
      }),
      ...(config.session.idleTimeoutSeconds !== undefined ? { last_seen_at_ms: now } : {}),
      ...authContext,
      ...(dpopKey !== undefined ? { dpop_key: dpopKey } : {}),
    };
    // Session fixation: whatever session this browser had is gone before the new one exists (regenerate).
    const record = await sessionLayer.startSession(ctx, draft);
    metrics?.logins.inc({ outcome: 'success' });
    ctx.state.log.info({ event: 'login', sub, sid: record.sid, ...(transaction.silent ? { silent: true } : {}) }, 'login succeeded');
    if (transaction.silent) return answerSilentLogin(ctx, publicOrigin, true);
    // Checked again on the way out: the transaction sat in the store, which is not a place to trust blindly.
    ctx.redirect(safeReturnTo(transaction.returnTo));
  });

  // ?slide=false: an SPA polling its session must not keep an idle session alive forever.
  const loadForMe = (ctx: Ctx, next: Next) => {
    const slide = ctx.query['slide'];
    if (slide === undefined || slide === 'true') return sessionLayer.load(ctx, next);
    if (slide === 'false') return sessionLayer.loadWithoutSliding(ctx, next);
    throw new InvalidRequestError('invalid_request', 'slide must be true or false.');
  };

  router.get('/me', loadForMe, async (ctx: Ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const view = sessionOf(ctx) ?? sessionLayer.refuse(ctx);
    const record = sessionLayer.require(ctx);
    const idleSeconds = config.session.idleTimeoutSeconds;
    ctx.body = {
      user: view.user,
      session: {
        created_at: view.created_at,
        expires_at: view.expires_at,
        expires_in: Math.max(0, Math.floor((record.expires_at_ms - clock()) / 1000)),
        ...(idleSeconds !== undefined ? { idle_expires_at: new Date(idleExpiresAtMs(record, idleSeconds)).toISOString() } : {}),
        // How the user logged in (ID token acr) and when (auth_time, ISO 8601 like the other times here): step-up.
        ...(record.acr !== undefined ? { acr: record.acr } : {}),
        ...(record.auth_time_ms !== undefined ? { auth_time: new Date(record.auth_time_ms).toISOString() } : {}),
      },
    };
  });

  // The CSRF guard comes before koa-session loads anything: a forged logout costs no store call.
  const logoutGuard = (ctx: Ctx, next: Next) => {
    ctx.set('Cache-Control', 'no-store');
    assertLogoutAllowed(ctx, publicOrigin);
    return next();
  };

  router.post('/logout', logoutGuard, sessionLayer.load, async (ctx: Ctx) => {
    const everywhere = ctx.query['scope'] === 'all';
    const record = sessionLayer.live(ctx);
    let ended: SessionRecord[] = [];
    if (record) ended = everywhere ? await endEverySession(record) : [(await store.delete(record.id)) ?? record];
    sessions.clearCookie(ctx);
    await Promise.all(ended.map((r) => revokeQuietly(ctx, r)));
    if (ended.length > 0) metrics?.logouts.inc({ kind: everywhere ? 'all' : 'user' }, ended.length);
    if (record) ctx.state.log.info({ event: 'logout', sub: record.sub, sessions: ended.length, scope: everywhere ? 'all' : 'current' }, 'logout');

    const logoutUrl = endSessionUrl(record);
    if (ctx.accepts('html', 'json') === 'json') {
      ctx.body = { logout_url: logoutUrl };
    } else {
      ctx.redirect(logoutUrl);
    }
  });

  // scope=all: every session of this user, on every replica. The current one is
  // deleted by id as well, so it ends even if its index entry were missing.
  async function endEverySession(record: SessionRecord): Promise<SessionRecord[]> {
    const ended = await store.deleteBySub(record.sub);
    if (ended.some((r) => r.id === record.id)) return ended;
    return [...ended, (await store.delete(record.id)) ?? record];
  }

  function endSessionUrl(record: SessionRecord | null): string {
    const postLogout = config.oidc.postLogoutRedirectUri;
    const params: Record<string, string> = { post_logout_redirect_uri: postLogout };
    if (record?.tokens.id_token) params['id_token_hint'] = record.tokens.id_token;
    else params['client_id'] = config.oidc.clientId;
    return oidc.endSessionUrl(params) ?? postLogout;
  }

  // A failed revocation never blocks logout: the session is already gone here.
  async function revokeQuietly(ctx: Ctx, record: SessionRecord): Promise<void> {
    const token = record.tokens.refresh_token;
    if (!token) return;
    await oidc.revoke(token, 'refresh_token').catch((err: unknown) => {
      if (err instanceof ProviderRejectedClientError) {
        ctx.state.log.error(
          { event: 'provider_rejected_client', operation: 'revocation', sub: record.sub, ...err.logFields() },
          "the identity provider refused the gateway's client credentials at revocation; session removed anyway",
        );
        return;
      }
      ctx.state.log.warn({ sub: record.sub, err: (err as Error).message }, 'refresh token revocation failed; session removed anyway');
    });
  }

  async function enforceLoginRateLimit(ctx: Ctx): Promise<void> {
    const limit = config.loginRateLimitPerMinute;
    if (limit <= 0) return;
    const count = await store.increment(`login-rate:${ctx.ip}`, 60_000);
    if (count > limit) {
      ctx.set('Retry-After', '60');
      throw new GatewayError(429, 'too_many_requests', 'Too many logins from this address; wait a minute.');
    }
  }

  return router;
}

/** `max_age` of /auth/login: whole seconds (OpenID Connect Core §3.1.2.1), or undefined when not given. */
function maxAgeOf(raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !/^\d{1,9}$/.test(raw)) throw new InvalidRequestError('invalid_request', 'max_age must be a whole number of seconds.');
  return Number(raw);
}

/** No acr_values asked for, or the ID token's acr is one of them (they are names, not levels: no ordering). */
function acrSatisfied(requested: string | undefined, acr: string | undefined): boolean {
  if (requested === undefined) return true;
  return acr !== undefined && requested.split(' ').includes(acr);
}

function providerError(params: URLSearchParams): GatewayError {
  return new ProviderRejectedError(params.get('error') ?? 'unknown_error');
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]: V });
}
