/**
 * REDIS_SESSION_CACHE on Redis Cluster (src/session/redis-cluster-invalidations.ts):
 * two replicas on a three-master Cluster with one replica per master, each
 * keeping the sessions it read in memory. As on single Redis, a change made
 * anywhere must be seen by the very next request everywhere — also after the
 * session's slot moved to another master, and after its master failed over.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEchoApi, type EchoApi } from '../../src/dev/echo-api.js';
import { createBrowser } from '../support/browser-login.js';
import { logIn, logLines, sessionIdOf } from '../support/gateway-user.js';
import { waitUntil } from '../support/wait-for.js';
import { startIdentityProvider, type TestIdentityProvider } from '../support/start-identity-provider.js';
import { startRedisCluster, type RedisClusterSetup, type RedisServer } from '../support/start-redis.js';
import { startTestGateway, type TestGateway } from '../support/start-test-gateway.js';

let idp: TestIdentityProvider;
let cluster: RedisClusterSetup;
let api: EchoApi;
let a: TestGateway;
let b: TestGateway;

const cacheOn = (gw: TestGateway) => logLines(gw, /^session cache on/).length;
const cacheOff = (gw: TestGateway) => logLines(gw, /^session cache off/).length;

beforeAll(async () => {
  [idp, cluster, api] = await Promise.all([startIdentityProvider(), startRedisCluster({ masters: 3, replicasPerMaster: 1 }), createEchoApi()]);
  const env = {
    REDIS_ENABLED: 'true',
    REDIS_CLUSTER_NODES: cluster.nodes.map((n) => `${n.host}:${n.port}`).join(','),
    REDIS_SESSION_CACHE: 'true',
    PROXY_ROUTES: `/api=${api.url}`,
  };
  a = await startTestGateway({ idp, env });
  b = await startTestGateway({ idp, env, publicUrl: a.publicUrl });
  await waitUntil('both session caches on', 20_000, () => cacheOn(a) > 0 && cacheOn(b) > 0);
}, 90_000);
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await Promise.all([idp?.close(), cluster?.stop(), api?.close()]);
});

interface ClusterNode {
  id: string;
  port: number;
  master: boolean;
  slots: Array<[number, number]>;
}

async function clusterNodes(): Promise<ClusterNode[]> {
  for (const server of cluster.servers) {
    const text = await server.cli('CLUSTER', 'NODES').catch(() => '');
    if (!text) continue;
    return text
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [id, addr, flags, , , , , , ...slots] = line.split(' ');
        return {
          id: id!,
          port: Number(/:(\d+)@/.exec(addr!)![1]),
          master: flags!.split(',').includes('master') && !flags!.includes('fail'),
          slots: slots
            .filter((s) => /^\d/.test(s))
            .map((s) => {
              const [from, to] = s.split('-').map(Number);
              return [from!, to ?? from!] as [number, number];
            }),
        };
      });
  }
  throw new Error('no cluster node answered CLUSTER NODES');
}

const server = (port: number): RedisServer => cluster.servers.find((s) => s.port === port)!;
const slotOf = async (id: string) => Number(await cluster.servers[0]!.cli('CLUSTER', 'KEYSLOT', `session:${id}`));
async function ownerOf(slot: number): Promise<ClusterNode> {
  const owner = (await clusterNodes()).find((n) => n.master && n.slots.some(([from, to]) => slot >= from && slot <= to));
  if (!owner) throw new Error(`no master serves slot ${slot}`);
  return owner;
}

/**
 * MIGRATE, retried on IOERR: on a loaded CI machine its connection to the target can time out once.
 * REPLACE and a NOKEY on a retry cover an attempt whose reply was lost after the keys had moved.
 */
async function migrate(src: RedisServer, targetPort: number, keys: string[]): Promise<void> {
  let reply = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    reply = await src.cli('MIGRATE', '127.0.0.1', String(targetPort), '', '0', '5000', 'REPLACE', 'KEYS', ...keys);
    if (reply === 'OK' || (attempt > 0 && reply === 'NOKEY')) return;
  }
  expect(`MIGRATE → ${reply}`).toBe('MIGRATE → OK');
}

const getCalls = async () => {
  const counts = await Promise.all(
    cluster.servers.map(async (s) => Number(/cmdstat_get:calls=(\d+)/.exec(await s.cli('INFO', 'commandstats'))?.[1] ?? 0)),
  );
  return counts.reduce((x, y) => x + y, 0);
};

async function loggedIn(): Promise<{ cookie: string; id: string }> {
  const browser = await logIn(a, createBrowser());
  const id = sessionIdOf(a, browser);
  return { cookie: `bff_session=${browser.jar.get(a.publicUrl, 'bff_session')!.value}`, id };
}
const proxied = async (gw: TestGateway, cookie: string) => {
  const response = await fetch(`${gw.url}/api/orders`, { headers: { cookie, 'x-csrf': '1' } });
  await response.arrayBuffer();
  return response.status;
};

describe('session cache on two replicas sharing one Redis Cluster', () => {
  it('serves a session it has read without asking any master again', async () => {
    const { cookie } = await loggedIn();
    expect(await proxied(b, cookie)).toBe(200);
    const before = await getCalls();
    for (let i = 0; i < 5; i++) expect(await proxied(b, cookie)).toBe(200);
    expect(await getCalls()).toBe(before);
  });

  it('answers 401 on the other replica at the very next request after a logout', async () => {
    const { cookie } = await loggedIn();
    expect(await proxied(b, cookie)).toBe(200);
    const logout = await fetch(`${a.url}/auth/logout`, { method: 'POST', headers: { cookie, 'x-csrf': '1', accept: 'application/json' } });
    expect(logout.status).toBe(200);
    expect(await proxied(b, cookie)).toBe(401);
  });

  it('ends the session on the other replica at once when one deletes by sid (a back-channel logout)', async () => {
    const { cookie, id } = await loggedIn();
    expect(await proxied(b, cookie)).toBe(200);
    const record = await a.store.get(id);
    expect((await a.store.deleteBySid(record!.sid!)).map((r) => r.id)).toEqual([id]);
    expect(await proxied(b, cookie)).toBe(401);
  });

  it('sees a session deleted straight on its master (an operator, an older gateway version) at once', async () => {
    const { cookie, id } = await loggedIn();
    expect(await proxied(b, cookie)).toBe(200);
    const owner = await ownerOf(await slotOf(id));
    expect(await server(owner.port).cli('DEL', `session:${id}`)).toBe('1');
    expect(await proxied(b, cookie)).toBe(401);
  });

  it("follows the session when its slot migrates to another master: still served, and a delete there lands at once", async () => {
    const { cookie, id } = await loggedIn();
    expect(await proxied(b, cookie)).toBe(200);
    const slot = await slotOf(id);
    const source = await ownerOf(slot);
    const target = (await clusterNodes()).find((n) => n.master && n.id !== source.id)!;
    const src = server(source.port);
    const dst = server(target.port);
    // The same steps as redis-cli --cluster reshard, for one slot, each checked (ok): a MIGRATE that
    // failed under load would otherwise leave the key behind on the source and show up only as a
    // timeout below.
    await dst.ok('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', source.id);
    await src.ok('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', target.id);
    const keys = (await src.cli('CLUSTER', 'GETKEYSINSLOT', String(slot), '100')).split('\n').filter(Boolean);
    expect(keys).toContain(`session:${id}`);
    await migrate(src, target.port, keys);
    // As redis-cli --cluster does it: the target first (it bumps its config epoch, so its claim wins the
    // gossip), then the source, then the other masters.
    const others = (await clusterNodes()).filter((n) => n.master && n.id !== target.id && n.id !== source.id);
    for (const node of [target, source, ...others]) await server(node.port).ok('CLUSTER', 'SETSLOT', String(slot), 'NODE', target.id);
    let seen = '';
    await waitUntil('the target master to own the slot', 10_000, async () => (seen = await dst.cli('EXISTS', `session:${id}`)) === '1').catch((err: Error) => {
      throw new Error(`${err.message}; EXISTS on the target last said "${seen}"`);
    });

    await waitUntil('the migrated session served by the other replica', 15_000, async () => (await proxied(b, cookie)) === 200);
    expect(await proxied(b, cookie)).toBe(200);
    expect(await dst.cli('DEL', `session:${id}`)).toBe('1');
    expect(await proxied(b, cookie)).toBe(401);
  }, 60_000);

  it("stops serving from memory while the session's master hangs (503, not a stale 200), and serves again after", async () => {
    const { cookie, id } = await loggedIn();
    expect(await proxied(b, cookie)).toBe(200);
    const owner = server((await ownerOf(await slotOf(id))).port);
    await owner.ok('CLIENT', 'PAUSE', '4000', 'ALL');
    // REDIS_COMMAND_TIMEOUT_MS (1 s) after the first unanswered PING, the cache is off and the read times out.
    await waitUntil('a 503 from the other replica', 10_000, async () => (await proxied(b, cookie)) === 503);
    await owner.ok('CLIENT', 'UNPAUSE');
    await waitUntil('200 again', 15_000, async () => (await proxied(b, cookie)) === 200);
  }, 30_000);

  // Last: it changes which node is master.
  it('drops and rebuilds the cache when the master fails over, and a delete on the new master lands at once', async () => {
    const { cookie, id } = await loggedIn();
    expect(await proxied(b, cookie)).toBe(200);
    const slot = await slotOf(id);
    const oldMaster = await ownerOf(slot);
    const nodes = await clusterNodes();
    const replicaLine = (await server(oldMaster.port).cli('CLUSTER', 'REPLICAS', oldMaster.id)).split('\n')[0]!;
    const replica = nodes.find((n) => n.id === replicaLine.split(' ')[0])!;
    const offBefore = cacheOff(b);
    const onBefore = cacheOn(b);

    await server(replica.port).ok('CLUSTER', 'FAILOVER');
    await waitUntil('the replica is master of the slot', 20_000, async () => (await ownerOf(slot)).id === replica.id);
    await waitUntil('replica b dropped its cache and rebuilt it', 30_000, () => cacheOff(b) > offBefore && cacheOn(b) > onBefore);

    expect(await proxied(b, cookie)).toBe(200);
    expect(await server(replica.port).cli('DEL', `session:${id}`)).toBe('1');
    expect(await proxied(b, cookie)).toBe(401);
  }, 60_000);
});
