import { CompactEncrypt, compactDecrypt } from 'jose';
import { describe, expect, it } from 'vitest';
import { deriveKeys } from '../../../src/session/derive-keys.js';
import { createTokenSealer } from '../../../src/session/token-sealer.js';

const SECRET = 'token-sealer-test-secret-0123456789abcdef';
const OTHER = 'another-token-sealer-secret-0123456789abc';
const key = deriveKeys([SECRET], 'token-encryption-v1')[0]!;
const header = (jwe: string) => JSON.parse(Buffer.from(jwe.split('.')[0]!, 'base64url').toString());
// Tokens repeat their issuer, subject and claim names: they compress like real ones.
const tokensJson = JSON.stringify({
  access_token: `eyJ${'a'.repeat(40)}.${Buffer.from(JSON.stringify({ iss: 'https://kc.example/realms/acme', sub: 'user-1', scope: 'openid profile email' }).repeat(8)).toString('base64url')}.sig`,
  refresh_token: `eyJ${'r'.repeat(40)}.${Buffer.from(JSON.stringify({ iss: 'https://kc.example/realms/acme', typ: 'Refresh' }).repeat(6)).toString('base64url')}.sig`,
  token_type: 'Bearer',
});

describe('token sealer (compact JWE, dir + A256GCM)', () => {
  it('compresses what shrinks, says so with zip=DEF, and opens it again', async () => {
    const sealer = createTokenSealer([SECRET]);
    const sealed = await sealer.seal(tokensJson);
    expect(header(sealed)).toEqual({ alg: 'dir', enc: 'A256GCM', kid: key.kid, zip: 'DEF' });
    expect(sealed.length).toBeLessThan(tokensJson.length);
    expect(await sealer.open(sealed)).toBe(tokensJson);
  });

  it('leaves out zip when compression would not help', async () => {
    const sealed = await createTokenSealer([SECRET]).seal('x');
    expect(header(sealed)).toEqual({ alg: 'dir', enc: 'A256GCM', kid: key.kid });
  });

  it('is opened by jose when uncompressed, and opens what jose sealed (records written before this sealer)', async () => {
    const sealer = createTokenSealer([SECRET]);
    const ours = await sealer.seal('{"access_token":"a"}');
    const { plaintext } = await compactDecrypt(ours, key.key);
    expect(new TextDecoder().decode(plaintext)).toBe('{"access_token":"a"}');

    const theirs = await new CompactEncrypt(new TextEncoder().encode(tokensJson))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: key.kid })
      .encrypt(key.key);
    expect(await sealer.open(theirs)).toBe(tokensJson);
  });

  it('refuses a tampered ciphertext, header, or a truncated tag', async () => {
    const sealer = createTokenSealer([SECRET]);
    const parts = (await sealer.seal(tokensJson)).split('.');
    const flip = (text: string) => Buffer.from(Buffer.from(text, 'base64url').map((b, i) => (i === 0 ? b ^ 1 : b))).toString('base64url');
    const withPart = (i: number, value: string) => parts.map((p, j) => (j === i ? value : p)).join('.');
    await expect(sealer.open(withPart(3, flip(parts[3]!)))).rejects.toThrow();
    await expect(sealer.open(withPart(0, Buffer.from(JSON.stringify({ ...header(parts.join('.')), zip: undefined })).toString('base64url')))).rejects.toThrow();
    await expect(sealer.open(withPart(4, Buffer.from(parts[4]!, 'base64url').subarray(0, 12).toString('base64url')))).rejects.toThrow();
  });

  it('refuses other algorithms, an encrypted key, and critical headers', async () => {
    const sealer = createTokenSealer([SECRET]);
    const [, , iv, ct, tag] = (await sealer.seal('hello')).split('.');
    const h = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    await expect(sealer.open(`${h({ alg: 'A256KW', enc: 'A256GCM', kid: key.kid })}..${iv}.${ct}.${tag}`)).rejects.toThrow('dir');
    await expect(sealer.open(`${h({ alg: 'dir', enc: 'A256GCM', kid: key.kid })}.AAAA.${iv}.${ct}.${tag}`)).rejects.toThrow('dir');
    await expect(sealer.open(`${h({ alg: 'dir', enc: 'A256GCM', kid: key.kid, crit: ['x'], x: 1 })}..${iv}.${ct}.${tag}`)).rejects.toThrow('critical');
  });

  it('opens with any secret of the rotation list and refuses once the sealing secret is gone', async () => {
    const sealed = await createTokenSealer([OTHER]).seal(tokensJson);
    expect(await createTokenSealer([SECRET, OTHER]).open(sealed)).toBe(tokensJson);
    await expect(createTokenSealer([SECRET]).open(sealed)).rejects.toThrow('not configured');
  });
});
