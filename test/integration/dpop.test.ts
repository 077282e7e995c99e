import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { createSessionRecordCodec } from '../../src/session/session-record-codec.js';
import type { SessionRecord } from '../../src/session/session-store.js';
import { createTokenSealer } from '../../src/session/token-sealer.js';
import { startDpopUpstream, type DpopUpstream } from '../support/dpop-upstream.js';
import { apiHeaders, createTestClock, loginCookie, sessionIdOf, type TestClock } from '../support/proxy-test-kit.js';
import { TEST_SECRET } from '../support/redis-store-harness.js';
import { startIdentityProvider, TEST_CLIENT_SECRET, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

let redis: RedisServer;
let redisClient: Redis;
/** Demands a DPoP nonce with every proof (use_dpop_nonce first), and bound tokens of `bff` (Keycloak: "Require DPoP bound tokens"). */
let idp: TestIdentityProvider;
let upstream: DpopUpstream;
let echo: EchoApi;
let clock: TestClock;
let gwA: TestGateway;
let gwB: TestGateway;
let cookie: string;
const dir = mkdtempSync(join(tmpdir(), 'dpop-'));
const codec = createSessionRecordCodec(createTokenSealer([TEST_SECRET]));
const ACCESS_TTL_S = 300;
/** Token requests the provider refused for want of its DPoP nonce (each answered by openid-client's one retry). */
let nonceChallenges = 0;

beforeAll(async () => {
  [redis, idp, echo] = await Promise.all([startRedis(), startIdentityProvider({ accessTokenTtlSeconds: ACCESS_TTL_S }), createEchoApi()]);
  await idp.updateClient({ dpop_bound_access_tokens: true });
  idp.provider.on('grant.error', (_ctx: unknown, err: { error?: string }) => {
    if (err.error === 'use_dpop_nonce') nonceChallenges += 1;
  });
  upstream = await startDpopUpstream({ issuer: idp.issuer });
  redisClient = new Redis(redis.url, { lazyConnect: true });
  await redisClient.connect();
  const routesFile = join(dir, 'routes.yaml');
  writeFileSync(
    routesFile,
    `
routes:
  - prefix: /bound
    target: ${upstream.url}/v1
    dpop: true
`,
  );
  clock = createTestClock();
  const env = { OIDC_DPOP: 'true', ROUTES_FILE: routesFile, PROXY_ROUTES: `/plain=${echo.url}` };
  gwA = await startTestGateway({ idp, redisUrl: redis.url, env, clock: clock.now });
  gwB = await startTestGateway({ idp, redisUrl: redis.url, env, clock: clock.now, publicUrl: gwA.publicUrl });
  cookie = await loginCookie(gwA);
}, 60_000);

afterAll(async () => {
  await Promise.all([gwA?.close(), gwB?.close()]);
  redisClient?.disconnect();
  await Promise.all([upstream?.close(), echo?.close(), idp?.close(), redis?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

const stored = async (): Promise<{ raw: string; record: SessionRecord }> => {
  const id = sessionIdOf(cookie);
  const raw = (await redisClient.get(`session:${id}`))!;
  return { raw, record: (await codec.decode(id, raw))! };
};
const thumbprintOf = (record: SessionRecord) => calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: record.dpop_key!.x, y: record.dpop_key!.y });
const call = (gw: TestGateway, path: string, init: RequestInit = {}) =>
  fetch(`${gw.url}${path}`, { ...init, headers: apiHeaders(cookie, (init.headers as Record<string, string>) ?? {}) });
const lastCall = () => upstream.calls.at(-1)!;

describe('OIDC_DPOP=true against a provider that demands DPoP nonces', () => {
  it('binds the tokens to the session key at login: cnf.jkt is the thumbprint of the key the session holds', async () => {
    const { record } = await stored();
    expect(record.dpop_key).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(record.tokens.token_type).toMatch(/^dpop$/i);
    const claims = decodeJwt(record.tokens.access_token) as { cnf?: { jkt?: string } };
    expect(claims.cnf?.jkt).toBe(await thumbprintOf(record));
    // The provider refused the first proof (no nonce): the login went through openid-client's single retry.
    expect(nonceChallenges).toBe(1);
    expect(idp.serverErrors).toEqual([]);
  });

  it('the provider really demands a nonce: a proof without one is refused with use_dpop_nonce', async () => {
    const tokenEndpoint = `${idp.issuer}/protocol/openid-connect/token`;
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const proof = await new SignJWT({ htm: 'POST', htu: tokenEndpoint, jti: randomUUID() })
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: await exportJWK(publicKey) })
      .setIssuedAt()
      .sign(privateKey);
    const response = await fetch(tokenEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: proof, authorization: `Basic ${Buffer.from(`bff:${TEST_CLIENT_SECRET}`).toString('base64')}` },
      body: 'grant_type=refresh_token&refresh_token=x',
    });
    // RFC 9449 §8: 400 at the token endpoint, with the nonce to use.
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'use_dpop_nonce' });
    expect(response.headers.get('dpop-nonce')).toBeTruthy();
  });

  it('keeps the key only sealed in Redis: neither its private nor its public part is readable', async () => {
    const { raw, record } = await stored();
    const json = JSON.parse(raw) as Record<string, unknown>;
    expect(String(json['dpop_key']).split('.')).toHaveLength(5); // compact JWE
    expect(raw).not.toContain(record.dpop_key!.d);
    expect(raw).not.toContain(record.dpop_key!.x);
    expect(raw).not.toContain(record.tokens.access_token);
    // Nor in any log line of either replica.
    expect([...gwA.logs, ...gwB.logs].join('\n')).not.toContain(record.dpop_key!.d);
  });

  it('sends Authorization: DPoP with a valid proof on a dpop route; the upstream accepts it', async () => {
    const response = await call(gwA, '/bound/items?page=2#x');
    expect(response.status).toBe(200);
    const seen = lastCall();
    expect(seen.outcome).toBe('accepted');
    expect(seen.htu).toBe(`${upstream.url}/v1/items`);
    expect(seen.authorization).toMatch(/^DPoP /);
    const { record } = await stored();
    expect(seen.jkt).toBe(await thumbprintOf(record));
    expect(decodeProtectedHeader(seen.proof!).jwk).not.toHaveProperty('d');
  });

  it('makes a fresh proof per request: two calls carry different jti, and a POST is signed for POST', async () => {
    await call(gwA, '/bound/a');
    const first = lastCall();
    const post = await call(gwB, '/bound/a', { method: 'POST', body: JSON.stringify({ n: 1 }), headers: { 'content-type': 'application/json' } });
    expect(post.status).toBe(200);
    const second = lastCall();
    expect([first.outcome, second.outcome]).toEqual(['accepted', 'accepted']);
    expect(second.jti).not.toBe(first.jti);
    expect(second.method).toBe('POST');
    expect(second.bodyBytes).toBe(7);
  });

  it('a captured proof replayed is refused, to the same URL (jti) and to another one (htu)', async () => {
    await call(gwA, '/bound/orders');
    const captured = lastCall();
    expect(captured.outcome).toBe('accepted');
    const headers = { authorization: captured.authorization!, dpop: captured.proof! };
    const replayed = await fetch(`${upstream.url}/v1/orders`, { headers });
    expect(replayed.status).toBe(401);
    expect(await replayed.json()).toMatchObject({ error: 'invalid_dpop_proof', reason: 'replayed jti' });
    const elsewhere = await fetch(`${upstream.url}/v1/admin`, { headers });
    expect(elsewhere.status).toBe(401);
    expect(await elsewhere.json()).toMatchObject({ reason: 'htu' });
    // The same token as a plain bearer token is no good either: the token is bound.
    const bearer = await fetch(`${upstream.url}/v1/orders`, { headers: { authorization: `Bearer ${captured.authorization!.slice(5)}` } });
    expect(bearer.status).toBe(401);
  });

  it("learns the upstream's own nonce: a GET refused with use_dpop_nonce is sent once more and succeeds; later proofs carry it", async () => {
    upstream.requireNonce(true);
    try {
      const before = upstream.calls.length;
      const response = await call(gwA, '/bound/n');
      expect(response.status).toBe(200);
      expect(upstream.calls.slice(before).map((c) => c.outcome)).toEqual(['nonce', 'accepted']);
      const next = upstream.calls.length;
      expect((await call(gwA, '/bound/n')).status).toBe(200);
      expect(upstream.calls.slice(next).map((c) => c.outcome)).toEqual(['accepted']);
      expect(lastCall().nonce).toBeDefined();
      // A request with a body streams and cannot be sent twice: the refusal reaches the client.
      upstream.requireNonce(true);
      const post = await call(gwA, '/bound/n', { method: 'POST', body: 'x' });
      expect(post.status).toBe(401);
      expect(post.headers.get('www-authenticate')).toMatch(/use_dpop_nonce/);
      expect(post.headers.get('dpop-nonce')).toBeTruthy();
      // ...and the client's retry works, since the gateway remembered the nonce from that answer.
      expect((await call(gwA, '/bound/n', { method: 'POST', body: 'x' })).status).toBe(200);
    } finally {
      upstream.requireNonce(false);
    }
  });

  it('a refresh on replica B keeps the binding: same key, the provider accepts it, the new token is bound to it', async () => {
    const { record: before } = await stored();
    const grants = idp.counters.refreshGrants;
    const challenges = nonceChallenges;
    clock.advance(ACCESS_TTL_S * 1000);
    const response = await call(gwB, '/bound/after-refresh');
    expect(response.status).toBe(200);
    expect(idp.counters.refreshGrants).toBe(grants + 1);
    expect(nonceChallenges).toBe(challenges + 1); // challenged, answered with the nonce, granted
    const { record: after } = await stored();
    expect(after.tokens.access_token).not.toBe(before.tokens.access_token);
    expect(after.dpop_key).toEqual(before.dpop_key);
    const jkt = await thumbprintOf(after);
    expect((decodeJwt(after.tokens.access_token) as { cnf?: { jkt?: string } }).cnf?.jkt).toBe(jkt);
    expect(lastCall()).toMatchObject({ outcome: 'accepted', jkt, tokenJkt: jkt });
    // Replica A uses the refreshed token with the same key.
    expect((await call(gwA, '/bound/after-refresh')).status).toBe(200);
    expect(lastCall().authorization).toBe(`DPoP ${after.tokens.access_token}`);
  });

  it('replicas refreshing at once make one refresh, under the lock, with the one key; both calls go through', async () => {
    const { record: before } = await stored();
    const grants = idp.counters.refreshGrants;
    clock.advance(ACCESS_TTL_S * 1000);
    const statuses = await Promise.all([gwA, gwB, gwA, gwB].map(async (gw) => (await call(gw, '/bound/together')).status));
    expect(statuses).toEqual([200, 200, 200, 200]);
    expect(idp.counters.refreshGrants).toBe(grants + 1);
    const { record: after } = await stored();
    expect(after.dpop_key).toEqual(before.dpop_key);
    const jkt = await thumbprintOf(after);
    expect(upstream.calls.slice(-4).map((c) => [c.outcome, c.tokenJkt])).toEqual(Array(4).fill(['accepted', jkt]));
  });

  it('a WebSocket upgrade on a dpop route carries a proof for GET', async () => {
    const ws = new WebSocket(`${gwB.url.replace('http', 'ws')}/bound/live?x=1`, { headers: { cookie, origin: gwA.publicUrl } });
    const first = await new Promise<string>((resolve, reject) => {
      ws.once('message', (data) => resolve(String(data)));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
    ws.close();
    expect(JSON.parse(first)).toMatchObject({ ok: true });
    expect(lastCall()).toMatchObject({ method: 'GET', outcome: 'accepted', htu: `${upstream.url}/v1/live` });
  });

  it('leaves routes without dpop as they were: a plain Bearer token and no DPoP header', async () => {
    const response = await call(gwA, '/plain/x');
    expect(response.status).toBe(200);
    const seen = (await response.json()) as { headers: Record<string, string | undefined> };
    expect(seen.headers['authorization']).toMatch(/^Bearer /);
    expect(seen.headers['dpop']).toBeUndefined();
  });

  it('ath is the SHA-256 of the very token sent', async () => {
    await call(gwA, '/bound/ath');
    const seen = lastCall();
    const token = seen.authorization!.slice(5);
    expect(decodeJwt(seen.proof!)['ath']).toBe(createHash('sha256').update(token).digest('base64url'));
  });
});

describe('logout of a DPoP session', () => {
  it('revokes at the provider (client authentication, no proof needed) and ends the session', async () => {
    const own = await loginCookie(gwA);
    const revocations = idp.counters.revocations;
    const response = await fetch(`${gwA.url}/auth/logout`, { method: 'POST', headers: apiHeaders(own) });
    expect(response.status).toBeLessThan(400);
    expect(idp.counters.revocations).toBeGreaterThan(revocations);
    expect((await fetch(`${gwB.url}/bound/x`, { headers: apiHeaders(own) })).status).toBe(401);
    expect(idp.serverErrors).toEqual([]);
  });
});

describe('OIDC_DPOP without a key', () => {
  it('a dpop route with a session from before OIDC_DPOP (no key) asks the user to log in again', async () => {
    const plain = await startTestGateway({ idp, redisUrl: redis.url, env: { PROXY_ROUTES: `/plain=${echo.url}` } });
    try {
      await idp.updateClient({ dpop_bound_access_tokens: false });
      const oldCookie = await loginCookie(plain);
      const response = await fetch(`${gwA.url}/bound/x`, { headers: apiHeaders(oldCookie) });
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ error: 'unauthenticated' });
    } finally {
      await idp.updateClient({ dpop_bound_access_tokens: true });
      await plain.close();
    }
  });
});
