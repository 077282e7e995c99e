import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { RoutePolicy } from '../config/config.js';
import { ForbiddenError, UnauthenticatedError, type GatewayError } from '../errors.js';
import { decodeJwtOrNull } from '../oidc/user-claims.js';
import type { DpopPrivateJwk, SessionRecord } from '../session/session-store.js';
import type { RouteTokens } from './route-token.js';
import { bearerAuthorization } from './bearer-authorization.js';
import { stepUpRefusal } from './step-up-check.js';
import type { TokenRefresher } from './token-refresher.js';

/** What a route's policy grants one request: the bearer token (if any) and the X-User-* headers it opts into. */
export interface RouteAccess {
  readonly session: SessionRecord | null;
  readonly accessToken: string | undefined;
  /** `Bearer <accessToken>` made once per token set, when the token is the session's own. */
  readonly authorization?: string | undefined;
  readonly userHeaders: Readonly<Record<string, string>> | undefined;
  /** The session's DPoP key on a `dpop: true` route with a token to send: the token goes as `Authorization: DPoP` with a proof. */
  readonly dpopKey: DpopPrivateJwk | undefined;
}

export interface RouteAccessDeps {
  refresher: TokenRefresher;
  tokens: RouteTokens;
  /** Judges the age of the login for maxAuthAgeSeconds. */
  clock: Clock;
}

export interface SessionSource {
  /** The live session or null, no side effects on the response. */
  load(): Promise<SessionRecord | null>;
  /** The live session, or throws UnauthenticatedError (clearing a stale cookie where there is one). */
  require(): Promise<SessionRecord>;
}

/**
 * Applies a ROUTES_FILE policy (docs/proxy.md) to one request, HTTP or
 * WebSocket: which session it needs, whether its roles pass, and which token
 * goes upstream. Routes whose policy keeps the default access (and routes
 * without one) never come here: proxy-middleware.ts serves them directly.
 */
export function createRouteAccess(deps: RouteAccessDeps) {
  const { refresher, tokens, clock } = deps;

  return async function resolveRouteAccess(policy: RoutePolicy, sessions: SessionSource, log: () => Logger): Promise<RouteAccess> {
    const session = await sessionFor(policy, sessions, log);
    // After the refresh, which may bring a refreshed ID token's acr.
    const refusal = refusalOf(policy, session, clock);
    if (refusal) throw refusal;
    const accessToken = await tokens.tokenFor(policy.token, session, log);
    return grantOf(policy, session, accessToken);
  };

  async function sessionFor(policy: RoutePolicy, sessions: SessionSource, log: () => Logger): Promise<SessionRecord | null> {
    if (policy.auth === 'none') return null;
    // Only a token made from the user's needs the user's token fresh; roles and X-User-* come from the session.
    const needsUserToken = policy.token.type === 'user' || policy.token.type === 'exchange';
    if (policy.auth === 'required') {
      const session = await sessions.require();
      return needsUserToken ? refresher.ensureFresh(session, log) : session;
    }
    const session = await sessions.load();
    if (session === null || !needsUserToken) return session;
    // optional: a session the provider has just ended is no session; the request goes on without a user.
    return refresher.ensureFresh(session, log).catch((err: unknown) => {
      if (err instanceof UnauthenticatedError) return null;
      throw err;
    });
  }
}

/**
 * resolveRouteAccess for a session already in hand (a session cache hit),
 * without a promise: the same checks and the same grant, for a policy that
 * needs nothing asynchronous (the user's token, fresh, or none). Undefined
 * whenever resolveRouteAccess must run: another token type, a refresh due,
 * a refused check or a missing DPoP key (whose errors are made there).
 */
export function createRouteAccessNow(deps: { refresher: Pick<TokenRefresher, 'needsRefresh'>; clock: Clock }) {
  const { refresher, clock } = deps;
  return function routeAccessNow(policy: RoutePolicy, session: SessionRecord): RouteAccess | undefined {
    if (policy.auth === 'none') return undefined;
    const userToken = policy.token.type === 'user';
    if (!userToken && policy.token.type !== 'none') return undefined;
    if (userToken && (refresher.needsRefresh(session) || (policy.dpop && !session.dpop_key))) return undefined;
    if (refusalOf(policy, session, clock)) return undefined;
    return grantOf(policy, session, userToken ? session.tokens.access_token : undefined);
  };
}

/** Roles, then step-up: the error that refuses `session` on this route, or undefined when it may pass. */
function refusalOf(policy: RoutePolicy, session: SessionRecord | null, clock: Clock): GatewayError | undefined {
  // auth: required is enforced by loadConfig for routes with roles, so a null session never gets here.
  if (policy.roles && (session === null || !rolesAllow(policy.roles, roleSetOf(session)))) return new ForbiddenError();
  // After the roles: stepping up would not help a user who lacks them (403, not 401). auth: required is
  // enforced here as for roles.
  if (session !== null && (policy.acr || policy.maxAuthAgeSeconds !== undefined)) return stepUpRefusal(policy, session, clock());
  return undefined;
}

/** What passing the checks grants: the token, its Authorization value when it is the session's own, the X-User-* headers, the DPoP key. */
function grantOf(policy: RoutePolicy, session: SessionRecord | null, accessToken: string | undefined): RouteAccess {
  const userHeaders = session !== null && policy.userHeaders.length > 0 ? userHeadersOf(policy, session) : undefined;
  const authorization = session !== null && accessToken !== undefined && accessToken === session.tokens.access_token ? bearerAuthorization(session.tokens) : undefined;
  return { session, accessToken, authorization, userHeaders, dpopKey: policy.dpop && accessToken !== undefined ? dpopKeyOf(session) : undefined };
}

/**
 * A session from before OIDC_DPOP was switched on holds a plain bearer token and no key: the
 * API would refuse it, so the user is asked to log in again (which makes a bound one).
 */
function dpopKeyOf(session: SessionRecord | null): DpopPrivateJwk {
  if (!session?.dpop_key) throw new UnauthenticatedError('This API needs a DPoP-bound session; log in again.');
  return session.dpop_key;
}

export type ResolveRouteAccess = ReturnType<typeof createRouteAccess>;

// One role set per session record: records are shared, frozen objects until a refresh or
// any write replaces them, so this is computed once per token set, never per request.
const roleSets = new WeakMap<SessionRecord, ReadonlySet<string>>();

/**
 * The roles a route's check sees: the ones /auth/me reports (realm roles and
 * this client's roles, unprefixed), plus every client role as
 * `<client>:<role>` (Keycloak's `resource_access`), read from the session's
 * claims and its access token when that is a JWT.
 */
export function roleSetOf(session: SessionRecord): ReadonlySet<string> {
  let roles = roleSets.get(session);
  if (roles) return roles;
  const set = new Set<string>();
  const reported = session.user_info['roles'];
  if (Array.isArray(reported)) for (const role of reported) if (typeof role === 'string') set.add(role);
  for (const claims of [session.user_info, decodeJwtOrNull(session.tokens.access_token)]) {
    const resourceAccess = asRecord(claims?.['resource_access']);
    for (const [client, access] of Object.entries(resourceAccess ?? {})) {
      const clientRoles = asRecord(access)?.['roles'];
      if (!Array.isArray(clientRoles)) continue;
      for (const role of clientRoles) if (typeof role === 'string') set.add(`${client}:${role}`);
    }
  }
  roles = set;
  roleSets.set(session, roles);
  return roles;
}

export function rolesAllow(roles: NonNullable<RoutePolicy['roles']>, held: ReadonlySet<string>): boolean {
  if (roles.allOf && !roles.allOf.every((r) => held.has(r))) return false;
  if (roles.anyOf && !roles.anyOf.some((r) => held.has(r))) return false;
  return true;
}

// Printable ASCII without commas: anything else could not travel in a header, or would split the roles list.
const HEADER_SAFE = /^[\x21-\x2b\x2d-\x7e]+$/;

function userHeadersOf(policy: RoutePolicy, session: SessionRecord): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of policy.userHeaders) {
    if (name === 'X-User-Sub') headers['x-user-sub'] = session.sub;
    else if (name === 'X-User-Email') {
      const email = session.user_info['email'];
      if (typeof email === 'string' && HEADER_SAFE.test(email)) headers['x-user-email'] = email;
    } else headers['x-user-roles'] = rolesHeaderOf(session);
  }
  return headers;
}

// The X-User-Roles value per session record, like its role set: sorted and filtered once, not per request.
const rolesHeaders = new WeakMap<SessionRecord, string>();

function rolesHeaderOf(session: SessionRecord): string {
  let header = rolesHeaders.get(session);
  if (header === undefined) {
    header = [...roleSetOf(session)].filter((r) => HEADER_SAFE.test(r)).sort().join(',');
    rolesHeaders.set(session, header);
  }
  return header;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
