import { afterAll, beforeAll, expect, it } from 'vitest';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { finishLogin, startLogin } from '../support/browser-login.js';
import { json } from '../support/http.js';
import { spawnGateway, type GatewayProcess } from '../support/spawn-gateway.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../support/start-redis.js';

// Bounded loopback load: enough to show nothing is lost or fails under many
// sessions, small enough for two shared cores. Numbers are printed for the
// closing note; nothing here asserts a speed.
const SESSIONS = 1000;
const REQUESTS_PER_SESSION = 5;
const CONCURRENCY = 25;

let idp: TestIdentityProvider;
let api: EchoApi;
let redis: RedisServer;
let replicas: GatewayProcess[];

beforeAll(async () => {
  [idp, api, redis] = await Promise.all([startIdentityProvider({ accessTokenTtlSeconds: 3600 }), createEchoApi({ keepLast: 1 }), startRedis()]);
  const env = { REDIS_ENABLED: 'true', REDIS_URL: redis.url, PROXY_ROUTES: `/api=${api.url}`, LOG_LEVEL: 'warn' };
  const first = await spawnGateway({ idp, env });
  replicas = [first, await spawnGateway({ idp, env, publicUrl: first.url })];
}, 60_000);
afterAll(async () => {
  await Promise.all((replicas ?? []).map((r) => r.kill()));
  await Promise.all([idp?.close(), api?.close(), redis?.stop()]);
});

async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

it(`logs in ${SESSIONS} browser sessions over two replicas, then proxies on all of them: 0 lost, 0 5xx`, async () => {
  const [a, b] = replicas as [GatewayProcess, GatewayProcess];
  const loginStarted = Date.now();
  const cookies = await pool(SESSIONS, CONCURRENCY, async (i) => {
    const via = i % 2 === 0 ? a : b;
    const pending = await startLogin(`${via.url}/auth/login`, { username: 'admin', password: 'test' });
    for (const c of pending.jar.list(via.url)) pending.jar.set(a.url, c.name, c.value, c.path);
    const { finalResponse } = await finishLogin(pending);
    expect(finalResponse.status).toBe(302);
    return `bff_session=${pending.jar.get(a.url, 'bff_session')!.value}`;
  });
  const loginSeconds = (Date.now() - loginStarted) / 1000;
  expect(new Set(cookies).size).toBe(SESSIONS);

  const trafficStarted = Date.now();
  const statuses = await pool(SESSIONS * REQUESTS_PER_SESSION, CONCURRENCY * 2, async (i) => {
    const replica = replicas[i % 2]!;
    const cookie = cookies[Math.floor(i / REQUESTS_PER_SESSION)]!;
    const response = await fetch(`${replica.url}/api/item/${i}`, { headers: { cookie, 'x-csrf': '1' } });
    await response.arrayBuffer();
    return response.status;
  });
  const trafficSeconds = (Date.now() - trafficStarted) / 1000;
  const byStatus = statuses.reduce<Record<number, number>>((acc, s) => ({ ...acc, [s]: (acc[s] ?? 0) + 1 }), {});

  const status = await json(await fetch(`${a.adminUrl}/status`));
  const lost = await pool(SESSIONS, CONCURRENCY, async (i) =>
    fetch(`${replicas[i % 2]!.url}/auth/me`, { headers: { cookie: cookies[i]! } }).then((r) => r.status),
  );
  console.log(
    JSON.stringify({
      sessions: SESSIONS,
      login_seconds: loginSeconds,
      logins_per_second: Math.round(SESSIONS / loginSeconds),
      proxied_requests: statuses.length,
      traffic_seconds: trafficSeconds,
      proxied_per_second: Math.round(statuses.length / trafficSeconds),
      statuses: byStatus,
      sessions_in_store: status.sessions,
      sessions_lost: lost.filter((s) => s !== 200).length,
    }),
  );
  expect(byStatus).toEqual({ 200: SESSIONS * REQUESTS_PER_SESSION });
  expect(lost.filter((s) => s !== 200)).toHaveLength(0);
  expect(status.sessions).toBeGreaterThanOrEqual(SESSIONS);
}, 300_000);
