import { CompactEncrypt, compactDecrypt, decodeProtectedHeader } from 'jose';
import { deriveKeys } from './derive-keys.js';

/** Seals strings (a session's tokens) as compact JWE: `dir` + `A256GCM`, `kid` naming the secret used. */
export interface TokenSealer {
  seal(plaintext: string): Promise<string>;
  /** Opens a JWE sealed with any configured secret; rejects when none fits or it was tampered with. */
  open(jwe: string): Promise<string>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Builds a sealer from the SESSION_SECRET rotation list: the first seals, all open. */
export function createTokenSealer(secrets: readonly string[]): TokenSealer {
  const keys = deriveKeys(secrets, 'token-encryption-v1');
  const current = keys[0];
  if (!current) throw new Error('createTokenSealer needs at least one secret');
  const byKid = new Map(keys.map((k) => [k.kid, k.key]));

  return {
    async seal(plaintext) {
      return new CompactEncrypt(encoder.encode(plaintext))
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: current.kid })
        .encrypt(current.key);
    },
    async open(jwe) {
      const { kid } = decodeProtectedHeader(jwe);
      const key = kid === undefined ? undefined : byKid.get(kid);
      if (!key) throw new Error('sealed with a key that is not configured (SESSION_SECRET rotated out?)');
      const { plaintext } = await compactDecrypt(jwe, key, {
        keyManagementAlgorithms: ['dir'],
        contentEncryptionAlgorithms: ['A256GCM'],
      });
      return decoder.decode(plaintext);
    },
  };
}
