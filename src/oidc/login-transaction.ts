import { createHash } from 'node:crypto';
import * as oidc from 'openid-client';

/** What the callback needs to finish a login; kept in the store for 10 minutes, consumed once. */
export interface LoginTransaction {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  readonly returnTo: string;
  /** Started by /auth/silent-login (prompt=none in an iframe): the callback answers a page that tells the SPA, not a redirect. */
  readonly silent?: true;
  /** acr_values sent to the provider (space-separated, as sent): the callback checks the ID token's acr against them. */
  readonly acrValues?: string;
  /** max_age sent to the provider, in seconds: the callback checks the ID token's auth_time against it. */
  readonly maxAge?: number;
}

/** Ten minutes, in milliseconds: long enough to type a password, short enough to bound replay. */
export const LOGIN_TRANSACTION_TTL_MS = 600_000;

/** Fresh random state, nonce and PKCE verifier, plus the S256 challenge to send. */
export async function createLoginTransaction(
  returnTo: string,
  options: { silent?: boolean; acrValues?: string | undefined; maxAge?: number | undefined } = {},
): Promise<{ transaction: LoginTransaction; codeChallenge: string }> {
  const codeVerifier = oidc.randomPKCECodeVerifier();
  return {
    transaction: {
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      codeVerifier,
      returnTo,
      ...(options.silent ? { silent: true as const } : {}),
      ...(options.acrValues !== undefined ? { acrValues: options.acrValues } : {}),
      ...(options.maxAge !== undefined ? { maxAge: options.maxAge } : {}),
    },
    codeChallenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
  };
}

/** 8 hex characters of sha256(state): names the browser-binding cookie, so several tabs can log in at once. */
export function stateCookieSuffix(state: string): string {
  return createHash('sha256').update(state).digest('hex').slice(0, 8);
}

export function serializeTransaction(tx: LoginTransaction): string {
  return JSON.stringify(tx);
}

/** Null for anything that is not a transaction we wrote. */
export function parseTransaction(json: string): LoginTransaction | null {
  try {
    const tx = JSON.parse(json) as Partial<LoginTransaction>;
    const ok =
      [tx.state, tx.nonce, tx.codeVerifier, tx.returnTo].every((v) => typeof v === 'string') &&
      (tx.silent === undefined || tx.silent === true) &&
      (tx.acrValues === undefined || typeof tx.acrValues === 'string') &&
      (tx.maxAge === undefined || (Number.isSafeInteger(tx.maxAge) && tx.maxAge >= 0));
    return ok ? (tx as LoginTransaction) : null;
  } catch {
    return null;
  }
}
