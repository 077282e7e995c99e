import { compactVerify, errors, type JWTVerifyGetKey } from 'jose';
import { InvalidProviderResponseError, ProviderUnavailableError } from '../errors.js';

/** What an ID token may be signed with: the provider's published (asymmetric) keys, never `none` or a MAC. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

/**
 * Checks the ID token's signature against the provider's published keys.
 * openid-client v6 validates the claims (iss, aud, nonce, exp) but skips the
 * signature in the code flow, where the spec lets TLS stand in for it: we
 * allow http providers, and a security product checks anyway. `keys` refetches
 * the key set once for an unknown `kid` (rotation), then refuses.
 */
export async function verifyIdTokenSignature(idToken: string, keys: JWTVerifyGetKey): Promise<void> {
  try {
    await compactVerify(idToken, keys, { algorithms: ALGORITHMS });
  } catch (err) {
    if (err instanceof ProviderUnavailableError) throw err;
    // No kid and several keys that fit: the token is good if one of them verifies it.
    if (err instanceof errors.JWKSMultipleMatchingKeys && (await verifiesWithOneOf(idToken, err))) return;
    if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || err instanceof TypeError || isAbort(err) || isFetchFailure(err)) {
      // The key set could not be fetched (or is not a key set): the provider's trouble, not the token's.
      throw new ProviderUnavailableError(err);
    }
    throw new InvalidProviderResponseError(reason(err), err);
  }
}

async function verifiesWithOneOf(idToken: string, candidates: AsyncIterable<Parameters<typeof compactVerify>[1]>): Promise<boolean> {
  for await (const key of candidates) {
    try {
      await compactVerify(idToken, key, { algorithms: ALGORITHMS });
      return true;
    } catch {
      // try the next one
    }
  }
  return false;
}

function reason(err: unknown): string {
  if (err instanceof errors.JWKSNoMatchingKey) return "the ID token's signing key is not among the provider's published keys";
  if (err instanceof errors.JOSEAlgNotAllowed) return 'the ID token is signed with an algorithm the gateway does not accept';
  return "the ID token's signature does not match the provider's published keys";
}

function isAbort(err: unknown): boolean {
  const name = (err as { name?: unknown })?.name;
  return name === 'AbortError' || name === 'TimeoutError';
}

/** jose's answer to a key-set endpoint that did not answer 200 (a plain JOSEError). */
function isFetchFailure(err: unknown): boolean {
  return err instanceof errors.JOSEError && err.code === 'ERR_JOSE_GENERIC';
}
