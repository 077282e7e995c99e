import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSessionCookieCodec, newSessionId } from '../../../src/session/session-cookie.js';
import { deriveKeys } from '../../../src/session/derive-keys.js';
import { createTokenSealer } from '../../../src/session/token-sealer.js';

const OLD = 'o'.repeat(32);
const NEW = 'n'.repeat(32);

describe('session cookie', () => {
  it('round-trips a 32-byte id and refuses any tampering', () => {
    const codec = createSessionCookieCodec([NEW]);
    const id = newSessionId();
    expect(Buffer.from(id, 'base64url')).toHaveLength(32);
    const value = codec.sign(id);
    expect(codec.verify(value)).toBe(id);
    for (let i = 0; i < value.length; i++) {
      if (value[i] === '.') continue;
      const flipped = value.slice(0, i) + (value[i] === 'A' ? 'B' : 'A') + value.slice(i + 1);
      expect(codec.verify(flipped)).toBeNull();
    }
    expect(codec.verify(undefined)).toBeNull();
    expect(codec.verify(`${value}x`)).toBeNull();
    expect(codec.verify(id)).toBeNull();
  });

  it('verifies cookies signed with a secret still in the rotation list, and signs with the first', () => {
    const id = newSessionId();
    const before = createSessionCookieCodec([OLD]).sign(id);
    const rotated = createSessionCookieCodec([NEW, OLD]);
    expect(rotated.verify(before)).toBe(id);
    expect(createSessionCookieCodec([NEW]).verify(before)).toBeNull();
    expect(createSessionCookieCodec([NEW]).verify(rotated.sign(id))).toBe(id);
  });
});

describe('token sealer', () => {
  it('seals as dir/A256GCM JWE with a kid, and opens after rotation', async () => {
    const sealed = await createTokenSealer([OLD]).seal('{"access_token":"secret-value"}');
    expect(sealed).not.toContain('secret-value');
    const header = JSON.parse(Buffer.from(sealed.split('.')[0]!, 'base64url').toString());
    expect(header).toMatchObject({ alg: 'dir', enc: 'A256GCM' });
    expect(typeof header.kid).toBe('string');
    expect(await createTokenSealer([NEW, OLD]).open(sealed)).toBe('{"access_token":"secret-value"}');
    await expect(createTokenSealer([NEW]).open(sealed)).rejects.toThrow();
  });

  it('uses a key unrelated to the cookie-signing key', async () => {
    // Both keys come from the same SESSION_SECRET; each must be derived for its own purpose.
    const [cookieKey] = deriveKeys([NEW], 'cookie-signing-v1');
    const [tokenKey] = deriveKeys([NEW], 'token-encryption-v1');
    const sealed = await createTokenSealer([NEW]).seal('x');
    const kid = JSON.parse(Buffer.from(sealed.split('.')[0]!, 'base64url').toString()).kid;
    expect(kid).toBe(tokenKey!.kid);
    expect(kid).not.toBe(cookieKey!.kid);
    const id = newSessionId();
    const signature = createSessionCookieCodec([NEW]).sign(id).split('.')[1];
    expect(signature).toBe(createHmac('sha256', cookieKey!.key).update(id).digest('base64url'));
    expect(signature).not.toBe(createHmac('sha256', tokenKey!.key).update(id).digest('base64url'));
  });
});
