import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidGrantError } from '../../src/errors.js';
import { DEFAULT_DEV_USERS } from '../../src/dev/dev-users.js';
import { sessionIdHash } from '../../src/session/session-summary.js';
import { logIn, meStatusEverywhere, type LoggedInSession } from '../support/gateway-sessions.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

const ADMIN_TOKEN = 'admin-token-for-tests-0123456789';
const BOB = { username: 'bob', password: 'bob-password' };

let redis: RedisServer;
let idp: TestIdentityProvider;
let gwA: TestGateway;
let gwB: TestGateway;
let unmanaged: TestGateway;
let replicas: TestGateway[];

beforeAll(async () => {
  [redis, idp] = await Promise.all([startRedis(), startIdentityProvider({ users: [...DEFAULT_DEV_USERS, BOB] })]);
  const env = { ADMIN_TOKEN };
  gwA = await startTestGateway({ idp, redisUrl: redis.url, env });
  gwB = await startTestGateway({ idp, redisUrl: redis.url, publicUrl: gwA.publicUrl, env });
  unmanaged = await startTestGateway({ idp, redisUrl: redis.url, publicUrl: gwA.publicUrl });
  replicas = [gwA, gwB];
}, 60_000);

afterAll(async () => {
  await Promise.all([gwA?.close(), gwB?.close(), unmanaged?.close()]);
  await Promise.all([idp?.close(), redis?.stop()]);
});

function admin(gateway: TestGateway, method: 'GET' | 'DELETE', query: string, authorization: string | null = `Bearer ${ADMIN_TOKEN}`) {
  return fetch(`${gateway.adminUrl}/sessions?${query}`, { method, headers: authorization === null ? {} : { authorization } });
}

async function refreshTokenOf(gateway: TestGateway, session: LoggedInSession): Promise<string> {
  const token = (await gateway.store.get(session.id))?.tokens.refresh_token;
  if (!token) throw new Error('session has no refresh token');
  return token;
}

interface Listed {
  sub: string;
  sessions: { id_hash: string; sid: string | null; created_at: string; expires_at: string; refreshed_at: string | null }[];
}

describe('admin session management', () => {
  it("lists a user's sessions to an operator, with a short id hash and never a token or session id", async () => {
    const [first, second] = await Promise.all([logIn(gwA), logIn(gwA)]);
    const records = await Promise.all([gwA.store.get(first.id), gwA.store.get(second.id)]);

    const response = await admin(gwB, 'GET', `sub=${encodeURIComponent(first.sub)}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const text = await response.text();
    const listed = JSON.parse(text) as Listed;
    expect(listed.sub).toBe(first.sub);
    expect(listed.sessions.map((s) => s.id_hash).sort()).toEqual([sessionIdHash(first.id), sessionIdHash(second.id)].sort());
    for (const session of listed.sessions) {
      expect(session.id_hash).toMatch(/^[0-9a-f]{12}$/);
      expect(Date.parse(session.expires_at)).toBeGreaterThan(Date.parse(session.created_at));
      expect(session).toHaveProperty('refreshed_at', null);
    }
    expect(listed.sessions.map((s) => s.sid).sort()).toEqual([first.sid, second.sid].sort());
    for (const record of records) {
      for (const secret of [record!.id, record!.tokens.access_token, record!.tokens.refresh_token!, record!.tokens.id_token!]) {
        expect(text).not.toContain(secret);
      }
    }
    await admin(gwA, 'DELETE', `sub=${encodeURIComponent(first.sub)}`);
  });

  it('ends one provider session by sid on every replica and revokes its refresh token at the provider', async () => {
    const [target, other] = await Promise.all([logIn(gwA), logIn(gwA)]);
    const refreshToken = await refreshTokenOf(gwA, target);
    const revocationsBefore = idp.counters.revocations;

    const response = await admin(gwB, 'DELETE', `sid=${encodeURIComponent(target.sid!)}`);
    expect(response.status).toBe(200);
    const requestId = response.headers.get('x-request-id');
    expect(requestId).toBeTruthy();
    expect(await response.json()).toMatchObject({ ended: 1, revoked: 1, sessions: [{ id_hash: sessionIdHash(target.id) }] });

    expect(await meStatusEverywhere(replicas, target)).toEqual([401, 401]);
    expect(await meStatusEverywhere(replicas, other)).toEqual([200, 200]);
    expect(idp.counters.revocations - revocationsBefore).toBe(1);
    await expect(gwA.oidc.refresh(refreshToken)).rejects.toBeInstanceOf(InvalidGrantError);
    const audit = gwB.logs.map((line) => JSON.parse(line)).find((line) => line.event === 'admin_revocation' && line.sid === target.sid);
    expect(audit).toMatchObject({ sub: target.sub, count: 1, revoked: 1, request_id: requestId });
    await admin(gwA, 'DELETE', `sub=${encodeURIComponent(other.sub)}`);
  });

  it('ends every session of a user by sub, leaves other users alone, and counts it as an admin logout', async () => {
    const [first, second, bob] = await Promise.all([logIn(gwA), logIn(gwA), logIn(gwA, BOB.username, BOB.password)]);
    const refreshTokens = await Promise.all([refreshTokenOf(gwA, first), refreshTokenOf(gwA, second)]);
    const revocationsBefore = idp.counters.revocations;

    const response = await admin(gwA, 'DELETE', `sub=${encodeURIComponent(first.sub)}`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ ended: 2, revoked: 2 });

    expect(await meStatusEverywhere(replicas, first)).toEqual([401, 401]);
    expect(await meStatusEverywhere(replicas, second)).toEqual([401, 401]);
    expect(await meStatusEverywhere(replicas, bob)).toEqual([200, 200]);
    expect(idp.counters.revocations - revocationsBefore).toBe(2);
    for (const token of refreshTokens) await expect(gwA.oidc.refresh(token)).rejects.toBeInstanceOf(InvalidGrantError);
    expect(await (await admin(gwB, 'GET', `sub=${encodeURIComponent(first.sub)}`)).json()).toEqual({ sub: first.sub, sessions: [] });
    const metrics = await (await fetch(`${gwA.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/^bff_logouts_total\{kind="admin"\} [1-9]/m);
    for (const line of [...gwA.logs, ...gwB.logs]) {
      for (const token of refreshTokens) expect(line).not.toContain(token);
    }
    await admin(gwA, 'DELETE', `sub=${encodeURIComponent(bob.sub)}`);
  });

  it('asks for exactly one of sub or sid', async () => {
    for (const query of ['', 'sub=a&sid=b', 'sub=', 'sub=a&sub=b']) {
      const response = await admin(gwA, 'DELETE', query);
      expect(response.status, query).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'invalid_request' });
    }
    expect((await admin(gwA, 'GET', '')).status).toBe(400);
  });

  it.each([
    ['no Authorization header', null, 'Bearer realm="oidc-bff-admin"'],
    ['a wrong token', 'Bearer not-the-admin-token-at-all', 'Bearer realm="oidc-bff-admin", error="invalid_token"'],
    ['the token one character short', `Bearer ${ADMIN_TOKEN.slice(0, -1)}`, 'Bearer realm="oidc-bff-admin", error="invalid_token"'],
    ['the right token under another scheme', `Basic ${ADMIN_TOKEN}`, 'Bearer realm="oidc-bff-admin"'],
  ])('refuses %s with 401 and ends nothing', async (_name, authorization, challenge) => {
    const session = await logIn(gwA);
    for (const method of ['GET', 'DELETE'] as const) {
      const response = await admin(gwA, method, `sub=${encodeURIComponent(session.sub)}`, authorization);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe(challenge);
      expect(await response.json()).toMatchObject({ error: 'unauthenticated' });
    }
    expect(await meStatusEverywhere(replicas, session)).toEqual([200, 200]);
    await gwA.store.delete(session.id);
  });

  it('does not exist (404) while ADMIN_TOKEN is unset, whatever the request carries', async () => {
    const session = await logIn(gwA);
    for (const method of ['GET', 'DELETE'] as const) {
      const response = await admin(unmanaged, method, `sub=${encodeURIComponent(session.sub)}`);
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ error: 'not_found' });
    }
    expect(await meStatusEverywhere(replicas, session)).toEqual([200, 200]);
    expect((await fetch(`${unmanaged.adminUrl}/healthz`)).status).toBe(200);
    await gwA.store.delete(session.id);
  });
});
