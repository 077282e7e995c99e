import { generateKeyPairSync, webcrypto } from 'node:crypto';
import type { DpopPrivateJwk } from '../session/session-store.js';
import type { CryptoKey, CryptoKeyPair } from 'openid-client';

/**
 * A new ES256 key pair for one session's DPoP proofs (RFC 9449), as a JWK so
 * that it can be sealed in the session record and used by every replica.
 * ES256: what Keycloak and every DPoP-capable provider accept, and a P-256
 * signature costs tens of microseconds where RSA's costs a millisecond.
 */
export function generateDpopKey(): DpopPrivateJwk {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  return { kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y!, d: jwk.d! };
}

/** The key as openid-client wants it for `getDPoPHandle` (WebCrypto; the public half exportable for the proof's `jwk`). */
export async function dpopCryptoKeyPair(jwk: DpopPrivateJwk): Promise<CryptoKeyPair> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256' };
  const { d: _private, ...publicJwk } = jwk;
  const [privateKey, publicKey] = await Promise.all([
    webcrypto.subtle.importKey('jwk', { ...jwk }, algorithm, false, ['sign']),
    webcrypto.subtle.importKey('jwk', publicJwk, algorithm, true, ['verify']),
  ]);
  return { privateKey: privateKey as CryptoKey, publicKey: publicKey as CryptoKey };
}
