import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { deriveKeys } from './derive-keys.js';

/** Seals strings (a session's tokens) as compact JWE: `dir` + `A256GCM`, `kid` naming the secret used. */
export interface TokenSealer {
  seal(plaintext: string): Promise<string>;
  /** Opens a JWE sealed with any configured secret; rejects when none fits or it was tampered with. */
  open(jwe: string): Promise<string>;
}

// RFC 7518 §5.3: A256GCM uses a 96-bit IV and a 128-bit tag. A shorter tag is
// refused outright: GCM would otherwise accept a truncated (forgeable) one.
const IV_BYTES = 12;
const TAG_BYTES = 16;
// A 1 MiB bound on what a sealed value may inflate to: a record holds a few KB of tokens.
const MAX_PLAINTEXT_BYTES = 1 << 20;

interface ProtectedHeader {
  alg?: unknown;
  enc?: unknown;
  kid?: unknown;
  zip?: unknown;
  crit?: unknown;
}

/**
 * Builds a sealer from the SESSION_SECRET rotation list: the first seals, all open.
 *
 * The compact serialisation is RFC 7516's, the same that jose produces
 * and opens, but built on node:crypto directly: jose goes through WebCrypto,
 * whose async AES and per-call key import cost more than the rest of a
 * proxied request's session handling. The tokens are DEFLATE-compressed
 * first when that makes them smaller, marked with the standard `"zip":"DEF"`
 * header (RFC 7516 §4.1.3): Keycloak's three JWTs shrink by about 45 %,
 * which keeps a login within 6 KiB of Redis. Values sealed without `zip`
 * (older records, jose) open as before.
 */
export function createTokenSealer(secrets: readonly string[]): TokenSealer {
  const keys = deriveKeys(secrets, 'token-encryption-v1');
  const current = keys[0];
  if (!current) throw new Error('createTokenSealer needs at least one secret');
  const byKid = new Map(keys.map((k) => [k.kid, k.key]));
  const encodeHeader = (zip: boolean) =>
    Buffer.from(JSON.stringify({ alg: 'dir', enc: 'A256GCM', kid: current.kid, ...(zip ? { zip: 'DEF' } : {}) })).toString('base64url');
  const headers = { plain: encodeHeader(false), zipped: encodeHeader(true) };

  return {
    async seal(plaintext) {
      const raw = Buffer.from(plaintext, 'utf8');
      const deflated = deflateRawSync(raw);
      const zip = deflated.length < raw.length;
      const protectedHeader = zip ? headers.zipped : headers.plain;
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', current.key, iv, { authTagLength: TAG_BYTES });
      // RFC 7516 §5.1 step 14: the additional authenticated data is ASCII(BASE64URL(protected header)).
      cipher.setAAD(Buffer.from(protectedHeader, 'ascii'));
      const ciphertext = Buffer.concat([cipher.update(zip ? deflated : raw), cipher.final()]);
      return `${protectedHeader}..${iv.toString('base64url')}.${ciphertext.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`;
    },

    async open(jwe) {
      const parts = jwe.split('.');
      if (parts.length !== 5) throw new Error('not a compact JWE');
      const [protectedHeader, encryptedKey, ivText, ciphertextText, tagText] = parts as [string, string, string, string, string];
      const header = parseHeader(protectedHeader);
      if (header.alg !== 'dir' || header.enc !== 'A256GCM' || encryptedKey !== '') throw new Error('only dir + A256GCM is accepted');
      if (header.crit !== undefined) throw new Error('no critical header parameters are understood');
      if (header.zip !== undefined && header.zip !== 'DEF') throw new Error('unsupported JWE zip');
      const key = typeof header.kid === 'string' ? byKid.get(header.kid) : undefined;
      if (!key) throw new Error('sealed with a key that is not configured (SESSION_SECRET rotated out?)');
      const iv = Buffer.from(ivText, 'base64url');
      const tag = Buffer.from(tagText, 'base64url');
      if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new Error('bad JWE iv or tag length');
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(protectedHeader, 'ascii'));
      decipher.setAuthTag(tag);
      const decrypted = Buffer.concat([decipher.update(Buffer.from(ciphertextText, 'base64url')), decipher.final()]);
      const plaintext = header.zip === 'DEF' ? inflateRawSync(decrypted, { maxOutputLength: MAX_PLAINTEXT_BYTES }) : decrypted;
      return plaintext.toString('utf8');
    },
  };
}

function parseHeader(text: string): ProtectedHeader {
  const header: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new Error('bad JWE header');
  return header as ProtectedHeader;
}
