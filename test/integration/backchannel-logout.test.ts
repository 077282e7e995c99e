import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DEV_USERS, subjectOf } from '../../src/dev/dev-users.js';
import { logIn, meStatusEverywhere, type LoggedInSession } from '../support/gateway-sessions.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

const BOB = { username: 'bob', password: 'bob-password' };
const ADMIN_SUB = subjectOf(DEFAULT_DEV_USERS[0]!);

let redis: RedisServer;
let idp: TestIdentityProvider;
let gwA: TestGateway;
let gwB: TestGateway;
let replicas: TestGateway[];

beforeAll(async () => {
  [redis, idp] = await Promise.all([startRedis(), startIdentityProvider({ users: [...DEFAULT_DEV_USERS, BOB] })]);
  gwA = await startTestGateway({ idp, redisUrl: redis.url });
  gwB = await startTestGateway({ idp, redisUrl: redis.url, publicUrl: gwA.publicUrl });
  replicas = [gwA, gwB];
  // Keycloak would be given the gateway service's in-cluster URL; here, replica A.
  await idp.updateClient({ backchannel_logout_uri: `${gwA.url}/auth/backchannel-logout` });
}, 60_000);

afterAll(async () => {
  await Promise.all([gwA?.close(), gwB?.close()]);
  await Promise.all([idp?.close(), redis?.stop()]);
});

function postLogoutToken(gateway: TestGateway, token: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${gateway.url}/auth/backchannel-logout`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams({ logout_token: token }),
  });
}

async function endEverySessionOf(sub: string): Promise<void> {
  await gwA.store.deleteBySub(sub);
}

async function backchannelLogouts(gateway: TestGateway): Promise<number> {
  const text = await (await fetch(`${gateway.adminUrl}/metrics`)).text();
  return Number(/^bff_logouts_total\{kind="backchannel"\} (\d+)/m.exec(text)?.[1] ?? 0);
}

describe('POST /auth/backchannel-logout', () => {
  it('ends only the session of the sid in the token, on both replicas', async () => {
    const [first, second, bob] = await Promise.all([logIn(gwA), logIn(gwA), logIn(gwA, BOB.username, BOB.password)]);
    expect(first.sid).toBeDefined();
    expect(first.sid).not.toBe(second.sid);

    const response = await postLogoutToken(gwB, await idp.signLogoutToken({ sid: first.sid, sub: first.sub }));
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toEqual({ sessions_ended: 1 });

    expect(await meStatusEverywhere(replicas, first)).toEqual([401, 401]);
    expect(await meStatusEverywhere(replicas, second)).toEqual([200, 200]);
    expect(await meStatusEverywhere(replicas, bob)).toEqual([200, 200]);
    const line = gwB.logs.map((l) => JSON.parse(l)).find((l) => l.event === 'backchannel_logout');
    expect(line).toMatchObject({ sid: first.sid, sub: first.sub, sessions: 1 });
    await Promise.all([endEverySessionOf(first.sub), endEverySessionOf(bob.sub)]);
  });

  it("ends every session of a user when the provider signs them out (Keycloak's admin Sign out)", async () => {
    const [first, second, bob] = await Promise.all([logIn(gwA), logIn(gwA), logIn(gwA, BOB.username, BOB.password)]);
    const deliveriesBefore = idp.backchannelDeliveries.length;
    const countedBefore = await backchannelLogouts(gwA);

    // Earlier tests left provider sessions of admin behind (their gateway sessions are gone).
    expect(await idp.endSessionsOf('admin')).toBeGreaterThanOrEqual(2);

    const deliveries = idp.backchannelDeliveries.slice(deliveriesBefore);
    expect(deliveries.every((d) => d.ok)).toBe(true);
    expect(deliveries.map((d) => d.sid)).toEqual(expect.arrayContaining([first.sid, second.sid]));
    expect(await meStatusEverywhere(replicas, first)).toEqual([401, 401]);
    expect(await meStatusEverywhere(replicas, second)).toEqual([401, 401]);
    expect(await meStatusEverywhere(replicas, bob)).toEqual([200, 200]);
    expect((await backchannelLogouts(gwA)) - countedBefore).toBe(2);
    for (const line of [...gwA.logs, ...gwB.logs]) expect(line).not.toMatch(/logout_token=|eyJ[\w-]+\.eyJ/);
    await endEverySessionOf(bob.sub);
  });

  it('ends every session of the subject when the token names no sid', async () => {
    const [first, second, bob] = await Promise.all([logIn(gwA), logIn(gwA), logIn(gwA, BOB.username, BOB.password)]);
    const response = await postLogoutToken(gwA, await idp.signLogoutToken({ sub: ADMIN_SUB }));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ sessions_ended: 2 });
    expect(await meStatusEverywhere(replicas, first)).toEqual([401, 401]);
    expect(await meStatusEverywhere(replicas, second)).toEqual([401, 401]);
    expect(await meStatusEverywhere(replicas, bob)).toEqual([200, 200]);
    await endEverySessionOf(bob.sub);
  });

  it('is not subject to the Origin rule of browser requests: the provider calls it', async () => {
    const session = await logIn(gwA);
    const response = await postLogoutToken(gwB, await idp.signLogoutToken({ sid: session.sid }), { origin: 'https://keycloak.example' });
    expect(response.status).toBe(200);
    expect(await meStatusEverywhere(replicas, session)).toEqual([401, 401]);
  });

  describe('refuses a bad logout token with 400 and ends no session', () => {
    let target: LoggedInSession;
    beforeAll(async () => {
      target = await logIn(gwA);
    });
    afterAll(async () => {
      await endEverySessionOf(ADMIN_SUB);
    });

    const forgedKey = async () => {
      const { privateKey } = await generateKeyPair('RS256', { extractable: true });
      return { ...(await exportJWK(privateKey)), alg: 'RS256', kid: idp.jwks.keys[0]!.kid };
    };
    const now = () => Math.floor(Date.now() / 1000);
    const cases: [string, () => Promise<string>][] = [
      ['signed with a key the provider does not hold', async () => idp.signLogoutToken({ sid: target.sid, sub: target.sub }, { privateJwk: await forgedKey() })],
      ['for another client', () => idp.signLogoutToken({ sid: target.sid, sub: target.sub, aud: 'another-client' })],
      ['from another issuer', () => idp.signLogoutToken({ sid: target.sid, sub: target.sub, iss: 'http://127.0.0.1:1/realms/test' })],
      ['carrying a nonce', () => idp.signLogoutToken({ sid: target.sid, sub: target.sub, nonce: 'abc' })],
      ['without events', () => idp.signLogoutToken({ sid: target.sid, sub: target.sub, events: undefined })],
      ['issued more than 5 minutes ago', () => idp.signLogoutToken({ sid: target.sid, sub: target.sub, iat: now() - 400, exp: now() + 60 })],
      ['typed as an access token', () => idp.signLogoutToken({ sid: target.sid, sub: target.sub }, { header: { typ: 'at+jwt' } })],
      ['naming neither sid nor sub', () => idp.signLogoutToken({ sid: undefined, sub: undefined })],
      ['that is not a JWT', async () => 'this-is-not-a-jwt'],
    ];

    it.each(cases)('%s', async (_name, make) => {
      const response = await postLogoutToken(gwB, await make());
      expect(response.status).toBe(400);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(await response.json()).toMatchObject({ error: 'invalid_logout_token', message: expect.any(String) });
      expect(await meStatusEverywhere(replicas, target)).toEqual([200, 200]);
    });

    it('a token used a second time', async () => {
      const token = await idp.signLogoutToken({ sub: ADMIN_SUB });
      expect((await postLogoutToken(gwA, token)).status).toBe(200);
      const again = await logIn(gwA);
      const replayed = await postLogoutToken(gwB, token);
      expect(replayed.status).toBe(400);
      expect(await replayed.json()).toMatchObject({ error: 'invalid_logout_token', message: expect.stringMatching(/already used/) });
      expect(await meStatusEverywhere(replicas, again)).toEqual([200, 200]);
      target = again;
    });

    it('a form without logout_token, a JSON body and an oversized form: each 400 invalid_logout_token', async () => {
      const empty = await fetch(`${gwA.url}/auth/backchannel-logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'token=abc',
      });
      expect(empty.status).toBe(400);
      const json = await fetch(`${gwA.url}/auth/backchannel-logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ logout_token: await idp.signLogoutToken({ sid: target.sid }) }),
      });
      expect(json.status).toBe(400);
      expect(await json.json()).toMatchObject({ error: 'invalid_logout_token' });
      const huge = await postLogoutToken(gwA, `${await idp.signLogoutToken({ sid: target.sid })}${'x'.repeat(20_000)}`);
      expect(huge.status).toBe(400);
      expect(await huge.json()).toMatchObject({ error: 'invalid_logout_token' });
      expect(await meStatusEverywhere(replicas, target)).toEqual([200, 200]);
    });
  });
});

describe('POST /auth/logout?scope=all', () => {
  it('ends every session of the current user on every replica and revokes their refresh tokens', async () => {
    const [first, second, bob] = await Promise.all([logIn(gwA), logIn(gwA), logIn(gwA, BOB.username, BOB.password)]);
    const revocationsBefore = idp.counters.revocations;

    const refused = await fetch(`${gwB.url}/auth/logout?scope=all`, { method: 'POST', headers: { cookie: first.cookie, accept: 'application/json' } });
    expect(refused.status).toBe(403);
    expect(await meStatusEverywhere(replicas, second)).toEqual([200, 200]);

    const response = await fetch(`${gwB.url}/auth/logout?scope=all`, {
      method: 'POST',
      headers: { cookie: first.cookie, 'x-csrf': '1', accept: 'application/json' },
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { logout_url: string }).logout_url).toMatch(/id_token_hint=/);
    expect(response.headers.getSetCookie().some((c) => /^bff_session=;/.test(c))).toBe(true);
    expect(await meStatusEverywhere(replicas, first)).toEqual([401, 401]);
    expect(await meStatusEverywhere(replicas, second)).toEqual([401, 401]);
    expect(await meStatusEverywhere(replicas, bob)).toEqual([200, 200]);
    expect(idp.counters.revocations - revocationsBefore).toBe(2);
    await endEverySessionOf(bob.sub);
  });

  it('ends only the current session without scope=all', async () => {
    const [first, second] = await Promise.all([logIn(gwA), logIn(gwA)]);
    const response = await fetch(`${gwA.url}/auth/logout`, {
      method: 'POST',
      headers: { cookie: first.cookie, 'x-csrf': '1', accept: 'application/json' },
    });
    expect(response.status).toBe(200);
    expect(await meStatusEverywhere(replicas, first)).toEqual([401, 401]);
    expect(await meStatusEverywhere(replicas, second)).toEqual([200, 200]);
    await endEverySessionOf(second.sub);
  });
});
