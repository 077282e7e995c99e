import { generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config/load-config.js';

const minimal = { OIDC_ISSUER: 'https://kc.example/realms/demo', OIDC_CLIENT_ID: 'bff' };
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });

function withFiles(files: Record<string, string>) {
  return {
    readFile: (path: string) => {
      const text = files[path];
      if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
      return text;
    },
  };
}

function problemsOf(env: Record<string, string>, files: Record<string, string> = {}): string[] {
  try {
    loadConfig(env, withFiles(files));
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

function keyOf(env: Record<string, string>, files: Record<string, string>) {
  const auth = loadConfig(env, withFiles(files)).oidc.clientAuth;
  if (auth.method !== 'private_key_jwt') throw new Error(`got ${auth.method}`);
  return auth.key;
}

describe('OIDC_CLIENT_AUTH=private_key_jwt and OIDC_CLIENT_PRIVATE_KEY_FILE', () => {
  it('reads an RSA PKCS#8 PEM: RS256, kid = RFC 7638 thumbprint; the method is the default with only a key file', async () => {
    const key = keyOf({ ...minimal, OIDC_CLIENT_PRIVATE_KEY_FILE: '/k.pem' }, { '/k.pem': rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string });
    expect(key.alg).toBe('RS256');
    expect(key.kid).toBe(await calculateJwkThumbprint(await exportJWK(rsa.publicKey)));
  });

  it('reads PKCS#1 and SEC1 PEMs, and a JWK keeping its kid and alg', () => {
    const pkcs1 = rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
    const sec1 = ec.privateKey.export({ type: 'sec1', format: 'pem' }) as string;
    const env = { ...minimal, OIDC_CLIENT_AUTH: 'private_key_jwt' };
    expect(keyOf({ ...env, OIDC_CLIENT_PRIVATE_KEY_FILE: '/a' }, { '/a': pkcs1 }).alg).toBe('RS256');
    expect(keyOf({ ...env, OIDC_CLIENT_PRIVATE_KEY_FILE: '/b' }, { '/b': sec1 }).alg).toBe('ES256');
    expect(keyOf({ ...env, OIDC_CLIENT_PRIVATE_KEY_FILE: '/c' }, { '/c': ec384.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string }).alg).toBe('ES384');
    const jwk = JSON.stringify({ ...rsa.privateKey.export({ format: 'jwk' }), kid: 'kc-key-1', alg: 'PS256' });
    expect(keyOf({ ...env, OIDC_CLIENT_PRIVATE_KEY_FILE: '/d' }, { '/d': jwk })).toMatchObject({ kid: 'kc-key-1', alg: 'PS256' });
  });

  it('a missing, unreadable or unusable key file is one line naming the variable', () => {
    const env = { ...minimal, OIDC_CLIENT_AUTH: 'private_key_jwt' };
    expect(problemsOf({ ...env, OIDC_CLIENT_PRIVATE_KEY_FILE: '/missing.pem' })).toEqual([
      expect.stringMatching(/^OIDC_CLIENT_PRIVATE_KEY_FILE \/missing\.pem cannot be read: ENOENT/),
    ]);
    expect(problemsOf({ ...env, OIDC_CLIENT_PRIVATE_KEY_FILE: '/x' }, { '/x': 'hello' })).toEqual([
      expect.stringMatching(/^OIDC_CLIENT_PRIVATE_KEY_FILE \/x holds no usable private key/),
    ]);
    const publicOnly = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expect(problemsOf({ ...env, OIDC_CLIENT_PRIVATE_KEY_FILE: '/pub' }, { '/pub': publicOnly })).toEqual([
      expect.stringMatching(/^OIDC_CLIENT_PRIVATE_KEY_FILE \/pub holds no usable private key/),
    ]);
    const ecJwkWithRsaAlg = JSON.stringify({ ...ec.privateKey.export({ format: 'jwk' }), alg: 'RS256' });
    expect(problemsOf({ ...env, OIDC_CLIENT_PRIVATE_KEY_FILE: '/e' }, { '/e': ecJwkWithRsaAlg })).toEqual([
      expect.stringMatching(/^OIDC_CLIENT_PRIVATE_KEY_FILE \/e says alg RS256/),
    ]);
    const secp256k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(problemsOf({ ...env, OIDC_CLIENT_PRIVATE_KEY_FILE: '/k1' }, { '/k1': secp256k1 })).toEqual([
      expect.stringMatching(/^OIDC_CLIENT_PRIVATE_KEY_FILE \/k1 holds a EC:secp256k1 key/),
    ]);
  });

  it('credentials that do not go together stop start-up', () => {
    const pem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(problemsOf({ ...minimal, OIDC_CLIENT_AUTH: 'private_key_jwt' })).toEqual(['OIDC_CLIENT_AUTH=private_key_jwt needs OIDC_CLIENT_PRIVATE_KEY_FILE']);
    expect(problemsOf({ ...minimal, OIDC_CLIENT_AUTH: 'private_key_jwt', OIDC_CLIENT_SECRET: 's', OIDC_CLIENT_PRIVATE_KEY_FILE: '/k' }, { '/k': pem })).toEqual([
      'OIDC_CLIENT_AUTH=private_key_jwt, but OIDC_CLIENT_SECRET is set: unset one of them',
    ]);
    expect(problemsOf({ ...minimal, OIDC_CLIENT_SECRET: 's', OIDC_CLIENT_PRIVATE_KEY_FILE: '/k' }, { '/k': pem })).toEqual([
      'OIDC_CLIENT_PRIVATE_KEY_FILE is set, but OIDC_CLIENT_AUTH=client_secret_basic: unset it or use private_key_jwt',
    ]);
  });
});

describe('OIDC_PAR', () => {
  it('is auto by default, takes true and false, and refuses anything else', () => {
    expect(loadConfig(minimal).oidc.par).toBe('auto');
    expect(loadConfig({ ...minimal, OIDC_PAR: 'TRUE' }).oidc.par).toBe('true');
    expect(loadConfig({ ...minimal, OIDC_PAR: 'false' }).oidc.par).toBe('false');
    expect(problemsOf({ ...minimal, OIDC_PAR: 'always' })).toEqual(['OIDC_PAR must be auto, true or false (got "always")']);
  });
});
