import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { deriveKeys } from './derive-keys.js';

/**
 * The browser's only credential: `<id>.<HMAC-SHA256(id)>`, one opaque cookie.
 * The signature lets us refuse forged or tampered ids before any store call.
 */
export interface SessionCookieCodec {
  /** `<id>.<signature>` signed with the first secret. */
  sign(id: string): string;
  /** The session id when the value carries a valid signature from any configured secret; null otherwise. */
  verify(value: string | undefined): string | null;
}

/** 32 random bytes, base64url (43 characters): 256 bits, unguessable. */
export function newSessionId(): string {
  return randomBytes(32).toString('base64url');
}

const ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;
// Cookie values already verified, so a busy session costs one HMAC, not one per
// request. A value verified once stays valid for this process (the secret list
// is fixed); a hit only tells that exact, already valid value apart.
const VERIFIED_CACHE_ENTRIES = 10_000;

/** Builds the cookie codec from the SESSION_SECRET rotation list: the first signs, all verify. */
export function createSessionCookieCodec(secrets: readonly string[]): SessionCookieCodec {
  const keys = deriveKeys(secrets, 'cookie-signing-v1').map((k) => k.key);
  // Compared as text: base64url's last character carries 2 ignored bits, so
  // decoding first would accept a tampered signature that decodes alike.
  const mac = (key: Uint8Array, id: string) => Buffer.from(createHmac('sha256', key).update(id).digest('base64url'));
  const verified = new Map<string, string>();
  const remember = (value: string, id: string) => {
    if (verified.size >= VERIFIED_CACHE_ENTRIES) verified.delete(verified.keys().next().value!);
    verified.set(value, id);
    return id;
  };

  return {
    sign(id) {
      return `${id}.${mac(keys[0]!, id).toString()}`;
    },
    verify(value) {
      if (value === undefined || value.length !== 87) return null;
      const known = verified.get(value);
      if (known !== undefined) return known;
      const id = value.slice(0, 43);
      if (value[43] !== '.' || !ID_PATTERN.test(id)) return null;
      const given = Buffer.from(value.slice(44));
      if (given.length !== 43) return null;
      return keys.some((key) => timingSafeEqual(mac(key, id), given)) ? remember(value, id) : null;
    },
  };
}
