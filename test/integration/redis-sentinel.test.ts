/**
 * Sentinel mode from environment variables alone: master, replica and three
 * Sentinels, passwords on both the data nodes and the Sentinels, db index
 * from REDIS_URL. Sessions made before a failover still work after it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logIn, logLines, me, sessionIdOf } from '../support/gateway-user.js';
import { waitUntil } from '../support/wait-for.js';
import { redisConfig, redisStoreHarness } from '../support/redis-store-harness.js';
import { runSessionStoreContract } from '../support/session-store-contract.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedisSentinel, type RedisSentinelSetup } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

const DATA_PASSWORD = 'data-pass-2e7f';
const SENTINEL_PASSWORD = 'sentinel-pass-9a41';

let idp: TestIdentityProvider;
let setup: RedisSentinelSetup;

beforeAll(async () => {
  [idp, setup] = await Promise.all([
    startIdentityProvider(),
    startRedisSentinel({ password: DATA_PASSWORD, sentinelPassword: SENTINEL_PASSWORD }),
  ]);
}, 90_000);
afterAll(async () => {
  await Promise.all([setup?.stop(), idp?.close()]);
});

runSessionStoreContract('redis sentinel', () =>
  redisStoreHarness(
    redisConfig({
      mode: 'sentinel',
      sentinels: setup.sentinels,
      name: setup.masterName,
      sentinelPassword: SENTINEL_PASSWORD,
      url: `redis://:${DATA_PASSWORD}@localhost:6379/4`,
    }),
  ),
);

describe('a gateway in Sentinel mode (REDIS_SENTINELS, REDIS_SENTINEL_NAME, REDIS_SENTINEL_PASSWORD)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway({
      idp,
      env: {
        REDIS_ENABLED: 'true',
        // Host and port are ignored in Sentinel mode; password and db index are not.
        REDIS_URL: `redis://:${DATA_PASSWORD}@localhost:6379/1`,
        REDIS_SENTINELS: setup.sentinels.map((s) => `${s.host}:${s.port}`).join(','),
        REDIS_SENTINEL_NAME: setup.masterName,
        REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
        REDIS_COMMAND_TIMEOUT_MS: '500',
      },
    });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('keeps a session made before the master dies: /auth/me answers 503 during the failover, never 401, then 200', async () => {
    const browser = await logIn(gw);
    expect((await me(gw, browser)).status).toBe(200);
    const id = sessionIdOf(gw, browser);
    expect(await setup.master.cli('-n', '1', 'EXISTS', `session:${id}`)).toBe('1');

    await setup.killMaster();
    // Traffic through the failover: every answer is 200 or 503, and the cookie is never cleared.
    const seen = new Map<number, number>();
    await waitUntil('a 200 from the promoted replica', 45_000, async () => {
      const answers = await Promise.all([me(gw, browser), me(gw, browser), me(gw, browser)]);
      for (const a of answers) seen.set(a.status, (seen.get(a.status) ?? 0) + 1);
      return answers.every((a) => a.status === 200);
    });

    expect([...seen.keys()].sort()).toEqual(seen.has(503) ? [200, 503] : [200]);
    expect(browser.jar.get(gw.publicUrl, gw.config.session.cookieName)).toBeDefined();
    const promoted = await setup.sentinelCli('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', setup.masterName);
    expect(promoted.split('\n')[1]).toBe(String(setup.replica.port));
    expect(await setup.replica.cli('-n', '1', 'EXISTS', `session:${id}`)).toBe('1');
    // One line per outage, not one per retry: the master's death, and on a loaded machine at most once more
    // while the client follows the Sentinels' +switch-master; the last word is "reconnected".
    const lost = logLines(gw, /^redis connection lost/).length;
    expect(lost).toBeGreaterThanOrEqual(1);
    expect(lost).toBeLessThanOrEqual(2);
    const states = logLines(gw, /^redis (connection lost|reconnected)/).map((l) => String(l['msg']));
    expect(states.at(-1)).toMatch(/^redis reconnected/);
    expect(states.filter((m) => m.startsWith('redis reconnected')).length).toBeLessThanOrEqual(lost);

    // New logins land on the new master, and /status reports it.
    const second = await logIn(gw);
    expect((await me(gw, second)).status).toBe(200);
    expect(await setup.replica.cli('-n', '1', 'EXISTS', `session:${sessionIdOf(gw, second)}`)).toBe('1');
    const status = (await (await fetch(`${gw.adminUrl}/status`)).json()) as Record<string, unknown>;
    expect(status).toMatchObject({ store: 'redis', connected: true, sessions: 2, key_prefix: 'session:' });
    expect(gw.logs.join('\n')).not.toMatch(new RegExp(`${DATA_PASSWORD}|${SENTINEL_PASSWORD}`));
  }, 90_000);
});
