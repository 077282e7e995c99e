import { errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Clock } from '../clock.js';
import { GatewayError, InvalidLogoutTokenError, ProviderUnavailableError } from '../errors.js';

/** The `events` member a logout token must carry (Back-Channel Logout 1.0 §2.4). */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** Oldest `iat` accepted: 5 minutes, in seconds. */
const LOGOUT_TOKEN_MAX_AGE_SECONDS = 300;
/** Clock skew allowed for `iat` in the future and for `exp`: 1 minute, in seconds. */
const LOGOUT_TOKEN_SKEW_SECONDS = 60;

// Provider keys are public keys: only asymmetric algorithms can verify with them.
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
// Explicit typing (§2.4, RFC 8725 §3.11). Keycloak sends `logout+jwt` since 25 and
// `JWT` before (keycloak/keycloak#28939), so both are taken.
const ACCEPTED_TYP = new Set(['logout+jwt', 'jwt']);
// jose failures that are the token's fault. Anything else (JWKS fetch timeout,
// non-200, bad JSON) is the provider's or ours: 503, never "bad token".
const TOKEN_FAULTS = new Set([
  'ERR_JWS_INVALID',
  'ERR_JWT_INVALID',
  'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  'ERR_JWT_CLAIM_VALIDATION_FAILED',
  'ERR_JWT_EXPIRED',
  'ERR_JOSE_ALG_NOT_ALLOWED',
  'ERR_JOSE_NOT_SUPPORTED',
  'ERR_JWKS_NO_MATCHING_KEY',
  'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
  'ERR_JWK_INVALID',
]);

/** The verified claims that say which sessions to end: `sid`, `sub` or both. */
export interface LogoutTokenClaims {
  readonly iss: string;
  readonly sid?: string;
  readonly sub?: string;
  readonly jti: string;
  /** Seconds since the epoch, as in the token. */
  readonly iat: number;
  readonly exp?: number;
}

export interface LogoutTokenVerifierDeps {
  issuer: string;
  /** The token's `aud` must contain it. */
  clientId: string;
  /** The provider's keys; see provider-jwks.ts. */
  keys: JWTVerifyGetKey;
  clock: Clock;
  /** Records a replay mark for `ttlMs`; false when it was already recorded (SessionStore.markOnce). */
  markOnce(key: string, ttlMs: number): Promise<boolean>;
  /** Takes a replay mark back (SessionStore.clearMark). */
  clearMark(key: string): Promise<void>;
}

/**
 * Verifies a token and marks its jti used. `release` takes the mark back when
 * acting on the token failed (store hiccup), so the provider's retry of the
 * same token is accepted instead of refused as a replay.
 */
export type LogoutTokenVerifier = (token: string) => Promise<LogoutTokenClaims & { release(): Promise<void> }>;

/**
 * Verifies a back-channel logout token as Back-Channel Logout 1.0 §2.6 asks,
 * and records its `jti` so it is accepted once. Rejects with
 * InvalidLogoutTokenError (400) for a bad token, ProviderUnavailableError
 * (503) when the provider's keys cannot be had.
 */
export function createLogoutTokenVerifier(deps: LogoutTokenVerifierDeps): LogoutTokenVerifier {
  const { issuer, clientId, keys, clock } = deps;

  return async (token) => {
    const nowMs = clock();
    const { payload, protectedHeader } = await verifySignature(token, keys, {
      issuer,
      audience: clientId,
      currentDate: new Date(nowMs),
      clockTolerance: LOGOUT_TOKEN_SKEW_SECONDS,
      algorithms: ALGORITHMS,
    });
    assertTyp(protectedHeader.typ);
    const claims = toLogoutClaims(payload, nowMs / 1000);
    const markKey = await assertFirstUse(claims, nowMs);
    return { ...claims, release: () => deps.clearMark(markKey) };
  };

  async function assertFirstUse(claims: LogoutTokenClaims, nowMs: number): Promise<string> {
    // Kept as long as the token could pass every other check, plus the skew.
    const acceptableUntilS = Math.max(claims.exp ?? 0, claims.iat + LOGOUT_TOKEN_MAX_AGE_SECONDS) + LOGOUT_TOKEN_SKEW_SECONDS;
    const ttlMs = Math.max(1000, Math.ceil(acceptableUntilS * 1000 - nowMs)); // whole ms: a fractional iat/exp is legal JSON
    const key = `logout-jti:${claims.iss}:${claims.jti}`;
    if (!(await deps.markOnce(key, ttlMs))) {
      throw new InvalidLogoutTokenError('this jti was already used');
    }
    return key;
  }
}

async function verifySignature(
  token: string,
  keys: JWTVerifyGetKey,
  options: Parameters<typeof jwtVerify>[2],
): ReturnType<typeof jwtVerify> {
  try {
    return await jwtVerify(token, keys, options);
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    if (err instanceof errors.JOSEError && TOKEN_FAULTS.has(err.code)) throw new InvalidLogoutTokenError(describe(err), err);
    throw new ProviderUnavailableError(err);
  }
}

function assertTyp(typ: unknown): void {
  const normalised = typeof typ === 'string' ? typ.toLowerCase().replace(/^application\//, '') : undefined;
  if (normalised === undefined || !ACCEPTED_TYP.has(normalised)) {
    throw new InvalidLogoutTokenError('the typ header is not logout+jwt or JWT');
  }
}

/** The claim checks of §2.6 steps 3-6 that jose does not make. */
function toLogoutClaims(payload: JWTPayload, nowS: number): LogoutTokenClaims {
  const { iss, iat, exp, jti, sid, sub, events } = payload;
  if (typeof iat !== 'number') throw new InvalidLogoutTokenError('iat is missing');
  if (iat < nowS - LOGOUT_TOKEN_MAX_AGE_SECONDS) throw new InvalidLogoutTokenError('iat is more than 5 minutes old');
  if (iat > nowS + LOGOUT_TOKEN_SKEW_SECONDS) throw new InvalidLogoutTokenError('iat is in the future');
  if (!isObject(events) || !isObject(events[BACKCHANNEL_LOGOUT_EVENT])) {
    throw new InvalidLogoutTokenError('the events claim has no back-channel logout event');
  }
  // A nonce would make it replayable as an ID token (§2.4).
  if ('nonce' in payload) throw new InvalidLogoutTokenError('it carries a nonce');
  if (typeof jti !== 'string' || jti === '') throw new InvalidLogoutTokenError('jti is missing');
  if (sid !== undefined && (typeof sid !== 'string' || sid === '')) throw new InvalidLogoutTokenError('sid is not a string');
  if (sub !== undefined && (typeof sub !== 'string' || sub === '')) throw new InvalidLogoutTokenError('sub is not a string');
  if (sid === undefined && sub === undefined) throw new InvalidLogoutTokenError('it names neither sid nor sub');
  return {
    iss: iss!,
    jti,
    iat,
    ...(typeof exp === 'number' ? { exp } : {}),
    ...(typeof sid === 'string' ? { sid } : {}),
    ...(typeof sub === 'string' ? { sub } : {}),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function describe(err: InstanceType<typeof errors.JOSEError>): string {
  if (err instanceof errors.JWTClaimValidationFailed) return `${err.claim} check failed (${err.reason})`;
  if (err instanceof errors.JWTExpired) return 'it has expired';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'its signature does not verify';
  if (err instanceof errors.JWKSNoMatchingKey) return "no key of the provider's JWKS matches it";
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return 'it is not a well-formed signed JWT';
  return err.message;
}
