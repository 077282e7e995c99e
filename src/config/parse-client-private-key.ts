import { createHash, createPrivateKey, type JsonWebKey, type KeyObject } from 'node:crypto';

/** The gateway's private_key_jwt signing key, as read from OIDC_CLIENT_PRIVATE_KEY_FILE. */
export interface ClientPrivateKey {
  /** Private JWK (never logged); imported as a CryptoKey once discovery has loaded. */
  readonly jwk: Readonly<JsonWebKey>;
  /** The file's own `kid`, or the key's RFC 7638 thumbprint. */
  readonly kid: string;
  /** JWS algorithm of the client assertion: the file's `alg`, or the one the key type implies. */
  readonly alg: string;
}

/** Algorithms a key type can sign with (what Keycloak's "Signed JWT" authenticator accepts for it). */
const ALGS_BY_KEY: Record<string, readonly string[]> = {
  RSA: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
  'EC:P-256': ['ES256'],
  'EC:P-384': ['ES384'],
  'EC:P-521': ['ES512'],
  'OKP:Ed25519': ['EdDSA', 'Ed25519'],
};

/**
 * Reads a PEM (PKCS#8, PKCS#1 or SEC1) or JWK private key. Returns one problem
 * line naming OIDC_CLIENT_PRIVATE_KEY_FILE when the file cannot be used, so a
 * bad key stops start-up instead of failing every login at the token endpoint.
 */
export function parseClientPrivateKey(path: string, readFile: (path: string) => string): { key?: ClientPrivateKey; problem?: string } {
  const fail = (why: string) => ({ problem: `OIDC_CLIENT_PRIVATE_KEY_FILE ${path} ${why}` });
  let text: string;
  try {
    text = readFile(path);
  } catch (err) {
    return fail(`cannot be read: ${(err as Error).message.split('\n')[0]}`);
  }
  let fileJwk: (JsonWebKey & { kid?: unknown; alg?: unknown }) | undefined;
  let keyObject: KeyObject;
  try {
    if (text.trimStart().startsWith('{')) {
      fileJwk = JSON.parse(text) as JsonWebKey;
      keyObject = createPrivateKey({ key: fileJwk, format: 'jwk' });
    } else {
      keyObject = createPrivateKey({ key: text, format: 'pem' });
    }
  } catch (err) {
    return fail(`holds no usable private key (PEM or JWK): ${(err as Error).message.split('\n')[0]}`);
  }
  const jwk = keyObject.export({ format: 'jwk' });
  const family = jwk.kty === 'RSA' ? 'RSA' : `${jwk.kty}:${jwk.crv}`;
  const algs = ALGS_BY_KEY[family];
  if (!algs) return fail(`holds a ${family} key; use an RSA, EC (P-256, P-384, P-521) or Ed25519 key`);
  const wanted = typeof fileJwk?.alg === 'string' ? fileJwk.alg : algs[0]!;
  if (!algs.includes(wanted)) return fail(`says alg ${wanted}, which a ${family} key cannot sign with`);
  const kid = typeof fileJwk?.kid === 'string' && fileJwk.kid !== '' ? fileJwk.kid : thumbprint(jwk);
  return { key: { jwk, kid, alg: wanted } };
}

/** RFC 7638: SHA-256 over the required public members, in lexicographic order, base64url. */
function thumbprint(jwk: JsonWebKey): string {
  const members =
    jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n } : jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}
