import { afterAll, beforeAll, expect, it } from 'vitest';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { finishLogin, startLogin } from '../support/browser-login.js';
import { spawnGateway, type GatewayProcess } from '../support/spawn-gateway.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';

let idp: TestIdentityProvider;
let api: EchoApi;
let redis: RedisServer;
let a: GatewayProcess;
let b: GatewayProcess;
const SESSIONS = 20;

beforeAll(async () => {
  [idp, api, redis] = await Promise.all([startIdentityProvider(), createEchoApi(), startRedis()]);
  const env = { REDIS_ENABLED: 'true', REDIS_URL: redis.url, PROXY_ROUTES: `/api=${api.url}` };
  a = await spawnGateway({ idp, env });
  b = await spawnGateway({ idp, env, publicUrl: a.url });
}, 60_000);
afterAll(async () => {
  await Promise.all([a?.kill(), b?.kill()]);
  await Promise.all([idp?.close(), api?.close(), redis?.stop()]);
});

it('keeps every session working on the surviving replica when the other is killed mid-traffic', async () => {
  // Log users in through both replicas (the callback always lands on PUBLIC_URL = A).
  const cookies: string[] = [];
  for (let i = 0; i < SESSIONS; i++) {
    const via = i % 2 === 0 ? a : b;
    const pending = await startLogin(`${via.url}/auth/login`, { username: 'admin', password: 'test' });
    for (const c of pending.jar.list(via.url)) pending.jar.set(a.url, c.name, c.value, c.path);
    await finishLogin(pending);
    cookies.push(`bff_session=${pending.jar.get(a.url, 'bff_session')!.value}`);
  }
  const call = (gw: GatewayProcess, cookie: string) =>
    fetch(`${gw.url}/api/ping`, { headers: { cookie, 'x-csrf': '1' } }).then((r) => r.status, () => 'refused');

  // Traffic on both replicas while A dies hard.
  const during = Promise.all(cookies.flatMap((cookie) => [call(a, cookie), call(b, cookie)]));
  await a.kill();
  const duringStatuses = await during;
  // Requests that reached A before it died either completed or were refused; none came back as a 5xx from B.
  expect(duringStatuses.filter((s) => typeof s === 'number' && s >= 500)).toEqual([]);

  const after = await Promise.all(cookies.map((cookie) => call(b, cookie)));
  expect(after).toEqual(cookies.map(() => 200));
  const me = await Promise.all(cookies.map((cookie) => fetch(`${b.url}/auth/me`, { headers: { cookie } }).then((r) => r.status)));
  expect(me.every((s) => s === 200)).toBe(true);
});
