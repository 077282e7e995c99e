/**
 * A provider played by nock, for unit tests of the provider's failure paths
 * (STYLE.md: nock only there; real-provider tests use oidc-provider).
 * Loopback stays reachable, everything else is refused, every test starts and
 * ends with no interceptor left.
 */
import { Writable } from 'node:stream';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import nock from 'nock';
import { afterEach, beforeEach, expect } from 'vitest';
import { createLogger, type Logger } from '../../src/ops/logger.js';

const PROVIDER_ORIGIN = 'https://id.example.test';
export const ISSUER = `${PROVIDER_ORIGIN}/realms/app`;
export const CLIENT_ID = 'bff';
export const CLIENT_SECRET = 'bff-secret';
const PATHS = {
  discovery: '/realms/app/.well-known/openid-configuration',
  authorize: '/realms/app/protocol/openid-connect/auth',
  token: '/realms/app/protocol/openid-connect/token',
  userinfo: '/realms/app/protocol/openid-connect/userinfo',
  revoke: '/realms/app/protocol/openid-connect/revoke',
  jwks: '/realms/app/protocol/openid-connect/certs',
  logout: '/realms/app/protocol/openid-connect/logout',
} as const;
export const PROVIDER_PATHS = PATHS;

export function discoveryDocument(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    issuer: ISSUER,
    authorization_endpoint: `${PROVIDER_ORIGIN}${PATHS.authorize}`,
    token_endpoint: `${PROVIDER_ORIGIN}${PATHS.token}`,
    userinfo_endpoint: `${PROVIDER_ORIGIN}${PATHS.userinfo}`,
    revocation_endpoint: `${PROVIDER_ORIGIN}${PATHS.revoke}`,
    end_session_endpoint: `${PROVIDER_ORIGIN}${PATHS.logout}`,
    jwks_uri: `${PROVIDER_ORIGIN}${PATHS.jwks}`,
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    ...overrides,
  };
}

/** Registers the nock hooks of a provider-failure suite: no real network but loopback, nothing left between tests. */
export function useNockedProvider(): void {
  beforeEach(() => {
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1|localhost/);
  });
  afterEach(() => {
    // Every interceptor a test set up was used: a path the test meant to drive really ran.
    const unused = nock.pendingMocks();
    nock.cleanAll();
    nock.enableNetConnect();
    expect(unused).toEqual([]);
  });
}

/** The provider's origin as a nock scope. */
export function provider(): nock.Scope {
  return nock(PROVIDER_ORIGIN);
}

export interface SigningKey {
  readonly privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  readonly publicJwk: JWK;
}

export async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

/** An ID token as the provider would sign it (iss, aud, iat, exp filled in). */
export async function idToken(key: SigningKey, claims: Record<string, unknown>): Promise<string> {
  const nowS = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: ISSUER, aud: CLIENT_ID, iat: nowS, exp: nowS + 300, ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: key.publicJwk.kid!, typ: 'JWT' })
    .sign(key.privateKey);
}

/** A logger whose JSON lines the test reads. */
export function capturedLogger(level = 'debug'): { logger: Logger; lines: () => Array<Record<string, unknown>> } {
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      raw.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: createLogger({ level, destination }), lines: () => raw.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** Polls until `check` holds (a background attempt finished); throws after `timeoutMs`. */
export async function eventually(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
