import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RedisConfig, RedisTopology } from '../../src/config/config.js';
import {
  createRedisClient,
  describeRedisTarget,
  forEachMaster,
  redisServerInfo,
  waitUntilReady,
  type RedisClient,
} from '../../src/session/redis-client.js';
import {
  startRedis,
  startRedisCluster,
  startRedisSentinel,
  type RedisClusterSetup,
  type RedisSentinelSetup,
  type RedisServer,
} from '../support/start-redis.js';

// Generous on purpose: two shared cores, other suites running beside this one.
const READY_TIMEOUT_MS = 10_000;
// "Rejected, not queued until Redis returns": Redis stays away far longer than any command timeout
// used here, so an answer within this bound can only be the client giving up by itself. Generous on
// purpose: how fast it gives up is the bench's concern, not a pass/fail line for a loaded CI machine.
const NOT_HUNG_MS = 5_000;

interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly obj: object;
  readonly msg: string;
}

function captureLogs(): { lines: LogLine[]; logger: Record<LogLine['level'], (obj: object, msg?: string) => void>; count(msg: RegExp): number } {
  const lines: LogLine[] = [];
  const at = (level: LogLine['level']) => (obj: object, msg?: string) => lines.push({ level, obj, msg: msg ?? '' });
  return {
    lines,
    logger: { info: at('info'), warn: at('warn'), error: at('error') },
    count: (msg) => lines.filter((l) => msg.test(l.msg)).length,
  };
}

function redisConfig(topology: RedisTopology, extra: Partial<RedisConfig> = {}): RedisConfig {
  return { topology, keyPrefix: 'session:', commandTimeoutMs: 1000, fallback: 'none', ...extra };
}

const clients: RedisClient[] = [];
function track<T extends RedisClient>(client: T): T {
  clients.push(client);
  return client;
}
afterEach(() => {
  for (const client of clients.splice(0)) client.disconnect();
});

async function eventually<T>(what: string, timeoutMs: number, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what} still failing after ${timeoutMs} ms: ${String(err)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** Resolves with how long `promise` took to reject; fails the test if it resolves. */
async function msUntilRejected(promise: Promise<unknown>): Promise<{ ms: number; error: Error }> {
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), 2 * NOT_HUNG_MS)));
  try {
    if ((await Promise.race([promise, hung])) === 'hung') throw new Error(`the command neither answered nor failed within ${2 * NOT_HUNG_MS} ms`);
  } catch (error) {
    if (/neither answered nor failed/.test(String(error))) throw error;
    return { ms: performance.now() - start, error: error as Error };
  } finally {
    clearTimeout(timer);
  }
  throw new Error('expected the command to reject, but it succeeded');
}

describe('createRedisClient with a single redis-server', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('runs commands once connected and logs one "connected" line', async () => {
    const logs = captureLogs();
    const client = track(createRedisClient(redisConfig({ mode: 'single', url: server.url }), { logger: logs.logger }));
    await waitUntilReady(client, READY_TIMEOUT_MS);

    await client.set('single:greeting', 'hello');
    expect(await client.get('single:greeting')).toBe('hello');
    expect(logs.count(/^redis connected/)).toBe(1);
    expect(logs.lines).toHaveLength(1);
  });

  it('selects the db index given in the URL path', async () => {
    const client = track(createRedisClient(redisConfig({ mode: 'single', url: `${server.url}/3` })));
    await waitUntilReady(client, READY_TIMEOUT_MS);

    await client.set('single:db-check', 'in-db-3');
    expect(await server.cli('-n', '3', 'GET', 'single:db-check')).toBe('in-db-3');
    expect(await server.cli('-n', '0', 'EXISTS', 'single:db-check')).toBe('0');
  });

  it('reports version, human-readable memory and client count for /status', async () => {
    const client = track(createRedisClient(redisConfig({ mode: 'single', url: server.url })));
    await waitUntilReady(client, READY_TIMEOUT_MS);

    const info = await redisServerInfo(client);
    expect(info.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(info.version).toBe((await server.cli('INFO', 'server')).match(/redis_version:(\S+)/)?.[1]);
    expect(info.used_memory).toMatch(/^\d+(\.\d\d[KMGTP])?B?$/);
    expect(info.connected_clients).toBeGreaterThanOrEqual(1);
  });

  it('rejects commands sent before the first connection is up instead of queueing them', async () => {
    const client = track(createRedisClient(redisConfig({ mode: 'single', url: server.url })));
    await expect(client.get('anything')).rejects.toThrow(/enableOfflineQueue/);
  });
});

describe('createRedisClient when Redis stops answering or goes away', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('rejects a command with a timeout when Redis accepts it but does not answer', async () => {
    const commandTimeoutMs = 300;
    const client = track(createRedisClient(redisConfig({ mode: 'single', url: server.url }, { commandTimeoutMs })));
    await waitUntilReady(client, READY_TIMEOUT_MS);

    // Paused far longer than the timeout: an answer after the pause would resolve, not reject.
    await server.ok('CLIENT', 'PAUSE', String(NOT_HUNG_MS), 'ALL');
    const { ms, error } = await msUntilRejected(client.get('paused:key'));
    expect(error.message).toMatch(/timed out/i);
    expect(ms).toBeLessThan(NOT_HUNG_MS);
    // The pause ends on its own; the same client works afterwards.
    await eventually('PING after the pause', NOT_HUNG_MS + 10_000, () => client.ping());
  });

  it('rejects at once while Redis is down, reconnects by itself after a restart, and logs one lost and one reconnected line', async () => {
    const commandTimeoutMs = 500;
    const logs = captureLogs();
    const client = track(
      createRedisClient(redisConfig({ mode: 'single', url: server.url }, { commandTimeoutMs }), { logger: logs.logger }),
    );
    let reconnectAttempts = 0;
    client.on('reconnecting', () => reconnectAttempts++);
    await waitUntilReady(client, READY_TIMEOUT_MS);
    await client.set('outage:before', '1');

    await server.kill();
    await eventually('the "lost" log line', 15_000, async () => expect(logs.count(/^redis connection lost/)).toBe(1));
    const { ms } = await msUntilRejected(client.get('outage:before'));
    expect(ms).toBeLessThan(NOT_HUNG_MS);

    // Let several reconnect attempts fail before Redis returns.
    await eventually('three failed reconnect attempts', 10_000, async () => expect(reconnectAttempts).toBeGreaterThanOrEqual(3));
    await server.restart();
    await eventually('a command after the restart', 10_000, () => client.set('outage:after', '2'));

    expect(await client.get('outage:after')).toBe('2');
    expect(logs.count(/^redis connection lost/)).toBe(1);
    expect(logs.count(/^redis reconnected/)).toBe(1);
    expect(logs.lines.map((l) => l.msg)).toEqual([
      expect.stringMatching(/^redis connected/),
      expect.stringMatching(/^redis connection lost/),
      expect.stringMatching(/^redis reconnected/),
    ]);
  });
});

describe('createRedisClient over TLS', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis({ tls: true });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('connects to a rediss:// URL, trusting the CA from tlsCaFile', async () => {
    expect(server.url).toMatch(/^rediss:\/\//);
    const client = track(createRedisClient(redisConfig({ mode: 'single', url: server.url }, { tlsCaFile: server.caFile! })));
    await waitUntilReady(client, READY_TIMEOUT_MS);

    await client.set('tls:key', 'secret-channel');
    expect(await server.cli('GET', 'tls:key')).toBe('secret-channel');
  });

  it('does not connect when no trusted CA signed the server certificate, and says why once', async () => {
    const logs = captureLogs();
    const client = track(createRedisClient(redisConfig({ mode: 'single', url: server.url }), { logger: logs.logger }));

    await expect(waitUntilReady(client, 2_000)).rejects.toThrow(/not ready/);
    await expect(client.ping()).rejects.toThrow();
    expect(logs.count(/^redis not reachable yet/)).toBe(1);
    expect(JSON.stringify(logs.lines)).toMatch(/certificate/i);
  });
});

describe('createRedisClient with an ACL user', () => {
  const acl = { username: 'bff', password: 'acl-pass-9f3e2d' };
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis({ aclUser: acl });
  });
  afterAll(async () => {
    await server?.stop();
  });
  const bareUrl = (): string => `redis://127.0.0.1:${server.port}`;

  it('authenticates as the user and password given in the URL', async () => {
    const client = track(createRedisClient(redisConfig({ mode: 'single', url: server.url })));
    await waitUntilReady(client, READY_TIMEOUT_MS);
    expect(await client.call('ACL', 'WHOAMI')).toBe('bff');
  });

  it('authenticates with the username and password overrides when the URL has none', async () => {
    const client = track(createRedisClient(redisConfig({ mode: 'single', url: bareUrl() }, acl)));
    await waitUntilReady(client, READY_TIMEOUT_MS);
    expect(await client.call('ACL', 'WHOAMI')).toBe('bff');
  });

  it('prefers the overrides to the credentials in the URL', async () => {
    const url = `redis://bff:wrong-password@127.0.0.1:${server.port}`;
    const client = track(createRedisClient(redisConfig({ mode: 'single', url }, { password: acl.password })));
    await waitUntilReady(client, READY_TIMEOUT_MS);
    expect(await client.call('ACL', 'WHOAMI')).toBe('bff');
  });

  it('is refused without credentials (the default user is off)', async () => {
    const client = track(createRedisClient(redisConfig({ mode: 'single', url: bareUrl() })));
    await expect(waitUntilReady(client, 2_000)).rejects.toThrow(/not ready/);
  });

  it('keeps the password out of its logs and its target description', async () => {
    const logs = captureLogs();
    const config = redisConfig({ mode: 'single', url: server.url });
    const client = track(createRedisClient(config, { logger: logs.logger }));
    await waitUntilReady(client, READY_TIMEOUT_MS);
    await server.kill();
    await eventually('the "lost" log line', 15_000, async () => expect(logs.count(/^redis connection lost/)).toBe(1));
    await server.restart();
    await eventually('the "reconnected" log line', 10_000, async () => expect(logs.count(/^redis reconnected/)).toBe(1));

    expect(describeRedisTarget(config)).toBe(`single redis://127.0.0.1:${server.port}/0`);
    expect(JSON.stringify(logs.lines)).not.toContain(acl.password);
    expect(JSON.stringify(logs.lines)).toContain(`127.0.0.1:${server.port}`);
  });
});

describe('createRedisClient with Sentinel', () => {
  let setup: RedisSentinelSetup;
  beforeAll(async () => {
    setup = await startRedisSentinel({ password: 'data-pass-71c2', sentinelPassword: 'sentinel-pass-5b8a' });
  }, 90_000);
  afterAll(async () => {
    await setup?.stop();
  });

  it('follows a failover: a key written before the master is killed is read through the same client afterwards', async () => {
    const logs = captureLogs();
    const config = redisConfig({
      mode: 'sentinel',
      sentinels: setup.sentinels,
      name: setup.masterName,
      sentinelPassword: 'sentinel-pass-5b8a',
      url: 'redis://:data-pass-71c2@localhost:6379/2',
    });
    const client = track(createRedisClient(config, { logger: logs.logger }));
    await waitUntilReady(client, READY_TIMEOUT_MS);
    await client.set('sentinel:key', 'survives-failover');
    expect(await setup.master.cli('-n', '2', 'GET', 'sentinel:key')).toBe('survives-failover');

    await setup.killMaster();
    const value = await eventually('GET after the failover', 45_000, () => client.get('sentinel:key'));

    expect(value).toBe('survives-failover');
    const newMaster = await setup.sentinelCli('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', setup.masterName);
    expect(newMaster.split('\n')[1]).toBe(String(setup.replica.port));
    expect(logs.count(/^redis connection lost/)).toBe(1);
    expect(logs.count(/^redis reconnected/)).toBe(1);
    expect(describeRedisTarget(config)).toMatch(/^sentinel redis:\/\/mymaster\/2 via 127\.0\.0\.1:\d+,/);
    expect(JSON.stringify(logs.lines)).not.toMatch(/data-pass|sentinel-pass/);
  }, 90_000);
});

describe('createRedisClient with Redis Cluster', () => {
  let cluster: RedisClusterSetup;
  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3 });
  }, 90_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  const clusterConfig = (extra: Partial<RedisConfig> = {}): RedisConfig =>
    redisConfig({ mode: 'cluster', nodes: cluster.nodes, url: 'redis://localhost:6379/0' }, extra);

  it('spreads keys over all three masters, and forEachMaster visits each master once', async () => {
    const client = track(createRedisClient(clusterConfig()));
    await waitUntilReady(client, READY_TIMEOUT_MS);
    // FLUSHDB through a Cluster client reaches one node only: clear each master.
    await forEachMaster(client, async (node) => {
      await node.flushdb();
    });
    for (let i = 0; i < 60; i++) await client.set(`spread:${i}`, String(i));

    const keysPerMaster = new Map<number, number>();
    await forEachMaster(client, async (node) => {
      keysPerMaster.set(node.options.port!, await node.dbsize());
    });

    expect([...keysPerMaster.keys()].sort()).toEqual(cluster.nodes.map((n) => n.port).sort());
    expect([...keysPerMaster.values()].every((n) => n > 0)).toBe(true);
    expect([...keysPerMaster.values()].reduce((a, b) => a + b, 0)).toBe(60);
  });

  it("keeps a session's hash-tagged keys on the slot of its record, so multi-key commands on them work", async () => {
    const client = track(createRedisClient(clusterConfig()));
    await waitUntilReady(client, READY_TIMEOUT_MS);
    const keys = ['session:abc', 'bff:tx:{session:abc}', 'bff:settings:{session:abc}', 'bff:lock:refresh:{session:abc}'];

    const slots = await Promise.all(keys.map((k) => client.cluster('KEYSLOT', k)));
    expect(new Set(slots).size).toBe(1);
    const results = await client.multi().set(keys[0]!, 'r').set(keys[1]!, 't').set(keys[2]!, 's').exec();
    expect(results?.map(([err]) => err)).toEqual([null, null, null]);
    expect(await client.del(...keys)).toBe(3);
    // Keys of different sessions do not share a slot, and a multi-key command across them is refused.
    await expect(client.del('session:abc', 'session:xyz')).rejects.toThrow(/CROSSSLOT/);
  });

  it('sums connected clients over the masters for /status', async () => {
    const client = track(createRedisClient(clusterConfig()));
    await waitUntilReady(client, READY_TIMEOUT_MS);
    await forEachMaster(client, async (node) => {
      await node.ping(); // a connection to every master, so each counts at least one client
    });

    const info = await redisServerInfo(client);
    expect(info.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(info.used_memory).toMatch(/^\d+\.\d\d[KMGTP]$/);
    expect(info.connected_clients).toBeGreaterThanOrEqual(3);
  });

  it('fails fast while the whole cluster is down and recovers by itself when it returns', async () => {
    const commandTimeoutMs = 500;
    const logs = captureLogs();
    const client = track(createRedisClient(clusterConfig({ commandTimeoutMs }), { logger: logs.logger }));
    await waitUntilReady(client, READY_TIMEOUT_MS);
    await client.set('cluster:before', '1');

    await Promise.all(cluster.servers.map((s) => s.kill()));
    // The Cluster client notices the loss when it next talks to a node: this first command.
    const first = await msUntilRejected(client.get('cluster:before'));
    expect(first.ms).toBeLessThan(NOT_HUNG_MS);
    await eventually('the "lost" log line', 10_000, async () => expect(logs.count(/^redis connection lost/)).toBe(1));
    const later = await msUntilRejected(client.get('cluster:before'));
    expect(later.ms).toBeLessThan(NOT_HUNG_MS);
    expect(later.error.message).toMatch(/isn't ready/);
    await expect(forEachMaster(client, async () => undefined)).rejects.toThrow(/not ready/);

    for (const server of cluster.servers) await server.restart();
    await cluster.waitUntilHealthy();
    await eventually('a command after the cluster returned', 20_000, () => client.set('cluster:after', '2'));

    expect(await client.get('cluster:after')).toBe('2');
    expect(logs.count(/^redis connection lost/)).toBe(1);
    expect(logs.count(/^redis reconnected/)).toBe(1);
  }, 60_000);
});
