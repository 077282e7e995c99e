import { createHash, hkdfSync } from 'node:crypto';

/** One derived key per SESSION_SECRET entry, with a short id naming it (for JWE `kid`). */
export interface DerivedKey {
  readonly kid: string;
  readonly key: Uint8Array;
}

/**
 * Derives a 256-bit key per secret with HKDF-SHA256. Different `purpose`
 * strings give unrelated keys, so the cookie-signing key never equals the
 * token-encryption key even though both come from SESSION_SECRET.
 */
export function deriveKeys(secrets: readonly string[], purpose: string): DerivedKey[] {
  return secrets.map((secret) => {
    const key = new Uint8Array(hkdfSync('sha256', secret, 'oidc-bff', purpose, 32));
    const kid = createHash('sha256').update(key).digest('base64url').slice(0, 8);
    return { kid, key };
  });
}
