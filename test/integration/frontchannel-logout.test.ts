import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DEV_USERS, subjectOf } from '../../src/dev/dev-users.js';
import { logIn, meStatusEverywhere } from '../support/gateway-sessions.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

const ADMIN_SUB = subjectOf(DEFAULT_DEV_USERS[0]!);

let redis: RedisServer;
let idp: TestIdentityProvider;
let gwA: TestGateway;
let gwB: TestGateway;
let replicas: TestGateway[];

beforeAll(async () => {
  [redis, idp] = await Promise.all([startRedis(), startIdentityProvider()]);
  gwA = await startTestGateway({ idp, redisUrl: redis.url });
  gwB = await startTestGateway({ idp, redisUrl: redis.url, publicUrl: gwA.publicUrl });
  replicas = [gwA, gwB];
}, 60_000);

afterAll(async () => {
  await Promise.all([gwA?.close(), gwB?.close()]);
  await Promise.all([idp?.close(), redis?.stop()]);
});

/**
 * What Keycloak's logout page does for a client with "Front channel logout" on and
 * "Front-channel logout session required": a hidden, cross-site iframe GETs the
 * client's URL with iss and sid. SameSite=Lax cookies are not sent in it: no cookie here.
 */
function providerIframe(gateway: TestGateway, query: Record<string, string>): Promise<Response> {
  const url = new URL(`${gateway.url}/auth/frontchannel-logout`);
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
  return fetch(url, {
    redirect: 'manual',
    headers: {
      accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
      referer: `${idp.url}/`,
      'sec-fetch-dest': 'iframe',
      'sec-fetch-mode': 'navigate',
      'sec-fetch-site': 'cross-site',
    },
  });
}

async function frontchannelLogouts(gateway: TestGateway): Promise<number> {
  const text = await (await fetch(`${gateway.adminUrl}/metrics`)).text();
  return Number(/^bff_logouts_total\{kind="frontchannel"\} (\d+)/m.exec(text)?.[1] ?? 0);
}

describe('GET /auth/frontchannel-logout', () => {
  it('ends the sessions of that sid on both replicas, without any cookie; other sessions stay', async () => {
    const [first, second] = await Promise.all([logIn(gwA), logIn(gwA)]);
    expect(first.sid).toBeDefined();
    expect(first.sid).not.toBe(second.sid);
    expect(await meStatusEverywhere(replicas, first)).toEqual([200, 200]);
    const counted = await frontchannelLogouts(gwA);

    const response = await providerIframe(gwA, { iss: idp.issuer, sid: first.sid! });
    expect(response.status).toBe(200);
    expect(await response.text()).toMatch(/^<!doctype html>.*logged out/is);

    expect(await meStatusEverywhere(replicas, first)).toEqual([401, 401]);
    expect(await meStatusEverywhere(replicas, second)).toEqual([200, 200]);
    expect((await frontchannelLogouts(gwA)) - counted).toBe(1);
    const line = gwA.logs.map((l) => JSON.parse(l)).find((l) => l.event === 'frontchannel_logout');
    expect(line).toMatchObject({ sid: first.sid, sub: ADMIN_SUB, sessions: 1 });
    await gwA.store.deleteBySub(ADMIN_SUB);
  });

  it('may be framed by the provider only, and is never cached', async () => {
    const response = await providerIframe(gwB, { iss: idp.issuer, sid: 'no-such-sid' });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('content-security-policy')).toContain(`frame-ancestors ${new URL(idp.issuer).origin}`);
    expect(response.headers.get('content-security-policy')).not.toMatch(/frame-ancestors[^;]*\*/);
    expect(response.headers.get('x-frame-options')).toBeNull();
    // Everything else stays unframeable.
    const me = await fetch(`${gwB.url}/auth/me`);
    expect(me.headers.get('x-frame-options')).toBe('DENY');
  });

  describe('deletes nothing and answers 400 when the request is not from this provider', () => {
    const cases: [string, (sid: string) => Record<string, string>][] = [
      ['a foreign iss', (sid) => ({ iss: 'https://other.example/realms/test', sid })],
      ['the issuer with a trailing slash', (sid) => ({ iss: `${idp.issuer}/`, sid })],
      ['no iss', (sid) => ({ sid })],
      ['no sid', () => ({ iss: idp.issuer })],
    ];
    it.each(cases)('%s', async (_name, query) => {
      const session = await logIn(gwA);
      const counted = await frontchannelLogouts(gwB);
      const response = await providerIframe(gwB, query(session.sid!));
      expect(response.status).toBe(400);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('content-security-policy')).toContain('frame-ancestors');
      expect(await meStatusEverywhere(replicas, session)).toEqual([200, 200]);
      expect(await frontchannelLogouts(gwB)).toBe(counted);
      await gwA.store.deleteBySub(ADMIN_SUB);
    });
  });
});
