import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { apiHeaders, createTestClock, loginCookie, type TestClock } from '../support/proxy-test-kit.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

let dir: string;
let redis: RedisServer;
let idp: TestIdentityProvider;
let echo: EchoApi;
let clock: TestClock;
let gwA: TestGateway;
let gwB: TestGateway;
let rsaFile: string;
let ecFile: string;

function publicJwk(key: { export(o: { format: 'jwk' }): object }): JWK {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = key.export({ format: 'jwk' }) as JWK;
  return pub;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bff-pkjwt-'));
  // Replica A: an RSA key as PKCS#8 PEM (kid = its thumbprint); replica B: a P-256 key as a JWK with its own kid.
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  rsaFile = join(dir, 'rsa.pem');
  writeFileSync(rsaFile, rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  ecFile = join(dir, 'ec.jwk.json');
  writeFileSync(ecFile, JSON.stringify({ ...(await exportJWK(ec.privateKey)), kid: 'gateway-ec-1' }));
  const rsaPublic = publicJwk(rsa.publicKey);

  [redis, idp, echo] = await Promise.all([startRedis(), startIdentityProvider({ clientSecret: null }), createEchoApi()]);
  // Keycloak: Credentials tab, Client Authenticator "Signed JWT"; Keys tab, the gateway's public keys.
  await idp.updateClient({
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: { keys: [{ ...rsaPublic, kid: await calculateJwkThumbprint(rsaPublic) }, { ...publicJwk(ec.publicKey), kid: 'gateway-ec-1' }] },
  });
  clock = createTestClock();
  const env = { PROXY_ROUTES: `/api=${echo.url}`, OIDC_PAR: 'true' };
  gwA = await startTestGateway({ idp, redisUrl: redis.url, clock: clock.now, env: { ...env, OIDC_CLIENT_PRIVATE_KEY_FILE: rsaFile } });
  gwB = await startTestGateway({
    idp,
    redisUrl: redis.url,
    clock: clock.now,
    publicUrl: gwA.publicUrl,
    env: { ...env, OIDC_CLIENT_AUTH: 'private_key_jwt', OIDC_CLIENT_PRIVATE_KEY_FILE: ecFile },
  });
}, 60_000);

afterAll(async () => {
  await Promise.all([gwA?.close(), gwB?.close()]);
  await Promise.all([idp?.close(), redis?.stop(), echo?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('OIDC_CLIENT_AUTH=private_key_jwt', () => {
  it('signs at the PAR, token and revocation endpoints: login on A, refresh on B, logout with revocation on B', async () => {
    const cookie = await loginCookie(gwA);
    expect(gwA.config.oidc.clientAuth.method).toBe('private_key_jwt');
    const grants = idp.counters.refreshGrants;
    clock.advance(300_000);
    const response = await fetch(`${gwB.url}/api/x`, { headers: apiHeaders(cookie) });
    expect(response.status).toBe(200);
    expect(idp.counters.refreshGrants).toBe(grants + 1);
    const revocations = idp.counters.revocations;
    const logout = await fetch(`${gwB.url}/auth/logout`, { method: 'POST', headers: { cookie, 'x-csrf': '1', accept: 'application/json' } });
    expect(logout.status).toBe(200);
    expect(idp.counters.revocations).toBe(revocations + 1);
    expect((await fetch(`${gwA.url}/auth/me`, { headers: { cookie } })).status).toBe(401);
    expect(idp.serverErrors).toEqual([]);
  });

  it('a key the provider does not know: 502 provider_rejected_client at the callback, logged at error, no session', async () => {
    const stranger = join(dir, 'stranger.pem');
    writeFileSync(stranger, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }));
    // Without PAR, so that the first signed call is the code exchange at the callback.
    const wrong = await startTestGateway({ idp, redisUrl: redis.url, env: { OIDC_CLIENT_PRIVATE_KEY_FILE: stranger, OIDC_PAR: 'false' } });
    try {
      await expect(loginCookie(wrong)).rejects.toThrow(/login ended with 502/);
      const line = wrong.logs.map((l) => JSON.parse(l)).find((l) => l.provider_error === 'invalid_client');
      expect(line?.level).toBe('error');
      for (const l of wrong.logs) expect(l).not.toMatch(/"d":"|PRIVATE KEY/);
    } finally {
      await wrong.close();
    }
  });

  it('a bad key file stops start-up with one line naming OIDC_CLIENT_PRIVATE_KEY_FILE and a non-zero exit', async () => {
    const bad = join(dir, 'bad.pem');
    writeFileSync(bad, '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n');
    const { code, stderr } = await runMain({
      OIDC_ISSUER: idp.issuer,
      OIDC_CLIENT_ID: 'bff',
      OIDC_CLIENT_AUTH: 'private_key_jwt',
      OIDC_CLIENT_PRIVATE_KEY_FILE: bad,
    });
    expect(code).not.toBe(0);
    const lines = stderr.split('\n').filter((l) => l.includes('OIDC_CLIENT_PRIVATE_KEY_FILE'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('holds no usable private key');
  });
});

function runMain(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { PATH: process.env['PATH'] ?? '', PORT: '0', ADMIN_PORT: '0', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`main did not exit; stderr: ${stderr}`));
    }, 20_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}
