/**
 * Each Redis topology configured from environment variables alone, proven
 * with a whole gateway (real login through the provider, then /auth/me):
 * single over TLS with an ACL user and a db index, credentials apart from the
 * URL, and Cluster with an ACL user. Sentinel has its own file (failover).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBrowser, type Browser } from '../support/browser-login.js';
import { logIn, logLines, me, sessionIdOf } from '../support/gateway-user.js';
import { waitUntil } from '../support/wait-for.js';
import { redisConfig, redisStoreHarness } from '../support/redis-store-harness.js';
import { runSessionStoreContract } from '../support/session-store-contract.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedis, startRedisCluster, type RedisClusterSetup, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

const acl = { username: 'bff-gateway', password: 'acl-pass-4d1c9e' };
// The least-privilege rule docs/production-redis.md recommends, verbatim.
const minimal = { username: 'bff', password: 'least-priv-7b20f1' };
const MINIMAL_ACL_RULE =
  'on ~session:* ~bff:* resetchannels &__redis__:invalidate -@all +auth +hello +ping +select +info +client|id +client|setname ' +
  '+client|tracking +client|trackinginfo +subscribe +quit +get +set +getdel +del +pexpire +pexpireat +pttl +incr ' +
  '+zadd +zrem +zrange +zrangebyscore +zremrangebyscore +zcard +hset +hget +eval +evalsha +cluster|slots +cluster|info';
const SESSION_TTL_MS = 28_800_000;

let idp: TestIdentityProvider;
let tlsAcl: RedisServer;
let cluster: RedisClusterSetup;
const gateways: TestGateway[] = [];

beforeAll(async () => {
  [idp, tlsAcl, cluster] = await Promise.all([
    startIdentityProvider(),
    startRedis({ tls: true, aclUser: acl, extraConfig: [`user ${minimal.username} ${MINIMAL_ACL_RULE} >${minimal.password}`] }),
    startRedisCluster({ masters: 3, aclUser: acl, extraConfig: [`user ${minimal.username} ${MINIMAL_ACL_RULE} >${minimal.password}`] }),
  ]);
}, 90_000);
afterAll(async () => {
  await Promise.all(gateways.map((gw) => gw.close()));
  await Promise.all([tlsAcl?.stop(), cluster?.stop(), idp?.close()]);
});

async function gateway(env: Record<string, string>): Promise<TestGateway> {
  const gw = await startTestGateway({ idp, env: { REDIS_ENABLED: 'true', ...env } });
  gateways.push(gw);
  return gw;
}

async function status(gw: TestGateway): Promise<{ code: number; body: Record<string, unknown> }> {
  const response = await fetch(`${gw.adminUrl}/status`);
  return { code: response.status, body: (await response.json()) as Record<string, unknown> };
}

const minimalUrl = () => `rediss://${minimal.username}:${minimal.password}@127.0.0.1:${tlsAcl.port}`;

runSessionStoreContract('redis with a least-privilege ACL user over TLS', () =>
  redisStoreHarness(redisConfig({ mode: 'single', url: minimalUrl() }, { tlsCaFile: tlsAcl.caFile! })),
);

describe('without Redis', () => {
  it('says in /status that sessions are in memory', async () => {
    const gw = await startTestGateway({ idp });
    gateways.push(gw);
    await logIn(gw);
    expect(await status(gw)).toEqual({ code: 200, body: { store: 'memory', connected: true, sessions: 1 } });
  });
});

describe('single Redis over TLS with an ACL user', () => {
  it('logs in and answers /auth/me with REDIS_URL=rediss://user:pass@host/2 and REDIS_TLS_CA_FILE, keeping the record in db 2', async () => {
    const gw = await gateway({ REDIS_URL: `${minimalUrl()}/2`, REDIS_TLS_CA_FILE: tlsAcl.caFile! });
    const browser = await logIn(gw);

    const answer = await me(gw, browser);
    expect(answer.status).toBe(200);
    expect(answer.body.user?.roles).toContain('admin');
    const key = `session:${sessionIdOf(gw, browser)}`;
    expect(await tlsAcl.cli('-n', '2', 'EXISTS', key)).toBe('1');
    expect(await tlsAcl.cli('-n', '0', 'EXISTS', key)).toBe('0');
    const pttl = Number(await tlsAcl.cli('-n', '2', 'PTTL', key));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(SESSION_TTL_MS);
    expect(await tlsAcl.cli('CLIENT', 'LIST')).toContain(`user=${minimal.username}`);

    const { code, body } = await status(gw);
    expect(code).toBe(200);
    expect(body).toMatchObject({ store: 'redis', connected: true, key_prefix: 'session:', sessions: 1 });
    expect(body['version']).toMatch(/^\d+\.\d+\.\d+$/);
    expect(body['used_memory']).toMatch(/^\d+(\.\d\d)?[BKMGTP]$/);
    expect(body['connected_clients']).toBeGreaterThanOrEqual(1);
    // Nothing secret in the start-up lines.
    expect(gw.logs.join('\n')).not.toContain(minimal.password);
    expect(await tlsAcl.cli('ACL', 'LOG')).toBe(''); // nothing was refused
  });

  it('takes the user and password from REDIS_USERNAME/REDIS_PASSWORD when the URL has none', async () => {
    const gw = await gateway({
      REDIS_URL: `rediss://127.0.0.1:${tlsAcl.port}/3`,
      REDIS_USERNAME: acl.username,
      REDIS_PASSWORD: acl.password,
      REDIS_TLS_CA_FILE: tlsAcl.caFile!,
    });
    const browser = await logIn(gw);

    expect((await me(gw, browser)).status).toBe(200);
    expect(await tlsAcl.cli('-n', '3', 'EXISTS', `session:${sessionIdOf(gw, browser)}`)).toBe('1');
  });

  it('does not become ready without the CA file: the certificate is verified, not trusted blindly', async () => {
    const gw = await startTestGateway({
      idp,
      env: { REDIS_ENABLED: 'true', REDIS_URL: tlsAcl.url },
      waitForStore: false,
    });
    gateways.push(gw);
    await waitUntil('the "not reachable" line', 10_000, () => logLines(gw, /^redis not reachable yet/).length > 0);
    expect(String(logLines(gw, /^redis not reachable yet/)[0]!['reason'])).toMatch(/certificate/i);
    const ready = await fetch(`${gw.adminUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ store_reachable: false });
  });
});

describe('Redis Cluster with a least-privilege ACL user (REDIS_CLUSTER_NODES, REDIS_USERNAME, REDIS_PASSWORD)', () => {
  let gw: TestGateway;
  const nodesEnv = () => cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',');
  const sessionKeysPerMaster = () =>
    Promise.all(
      cluster.servers.map(async (s) => (await s.cli('--scan', '--pattern', 'session:*')).split('\n').filter(Boolean).length),
    );

  beforeAll(async () => {
    gw = await gateway({ REDIS_CLUSTER_NODES: nodesEnv(), REDIS_USERNAME: minimal.username, REDIS_PASSWORD: minimal.password });
  });

  it('spreads sessions of real logins over the masters, and back-channel-style deletes by sid and by sub reach every slot', async () => {
    // Twelve browsers, twelve provider sessions (sids), one user.
    const browsers: Browser[] = [];
    for (let i = 0; i < 12; i++) browsers.push(await logIn(gw, createBrowser()));
    for (const browser of browsers) expect((await me(gw, browser)).status).toBe(200);

    const ids = browsers.map((b) => sessionIdOf(gw, b));
    const slots = await Promise.all(ids.map((id) => cluster.servers[0]!.cli('CLUSTER', 'KEYSLOT', `session:${id}`)));
    expect(new Set(slots).size).toBeGreaterThan(1);
    const perMaster = await sessionKeysPerMaster();
    expect(perMaster.reduce((a, b) => a + b, 0)).toBe(12);
    expect(perMaster.filter((n) => n > 0).length).toBeGreaterThan(1);
    const dbsizes = await Promise.all(cluster.servers.map(async (s) => Number(await s.cli('DBSIZE'))));
    expect(dbsizes.filter((n) => n > 0).length).toBeGreaterThan(1);
    expect((await status(gw)).body).toMatchObject({ store: 'redis', connected: true, sessions: 12 });

    // Back-channel logout for one provider session ends exactly that browser's session.
    const first = await gw.store.get(ids[0]!);
    expect(first?.sid).toBeTruthy();
    const bySid = await gw.store.deleteBySid(first!.sid!);
    expect(bySid.map((r) => r.id)).toEqual([ids[0]]);
    expect((await me(gw, browsers[0]!)).status).toBe(401);
    expect((await me(gw, browsers[1]!)).status).toBe(200);

    // Back-channel logout by subject ends the other eleven, wherever their slots live.
    const bySub = await gw.store.deleteBySub(first!.sub);
    expect(bySub.map((r) => r.id).sort()).toEqual(ids.slice(1).sort());
    for (const browser of browsers.slice(1)) expect((await me(gw, browser)).status).toBe(401);
    expect(await sessionKeysPerMaster()).toEqual([0, 0, 0]);
    expect((await status(gw)).body).toMatchObject({ sessions: 0 });
    for (const server of cluster.servers) expect(await server.cli('ACL', 'LOG')).toBe(''); // nothing was refused
  }, 60_000);

  it('reports every master in /status: versions, summed memory and clients', async () => {
    const { code, body } = await status(gw);
    expect(code).toBe(200);
    expect(body).toMatchObject({ store: 'redis', connected: true, key_prefix: 'session:' });
    expect(body['version']).toMatch(/^\d+\.\d+\.\d+$/);
    expect(body['connected_clients']).toBeGreaterThanOrEqual(3);
  });

  // Last in this suite: it takes a master away.
  it('is not ready while one master is gone, says so in one line, and is ready again once it is back', async () => {
    const readyz = async () => (await fetch(`${gw.adminUrl}/readyz`)).status;
    expect(await readyz()).toBe(200);
    await cluster.servers[2]!.kill();
    await waitUntil('/readyz 503', 15_000, async () => (await readyz()) === 503);
    await cluster.servers[2]!.restart();
    await cluster.waitUntilHealthy();
    await waitUntil('/readyz 200', 20_000, async () => (await readyz()) === 200);
    expect(logLines(gw, /^redis cluster node lost/).length).toBeGreaterThanOrEqual(1);
  }, 60_000);
});
