import { Redis } from 'ioredis';
import type { RedisConfig } from '../config/config.js';
import { redisConnectionParts } from './redis-client.js';
import { GuardedStandaloneConnector } from './redis-stream-guard.js';
import { defineRedisScripts } from './redis-scripts.js';
import type { RedisLogger } from './redis-state-log.js';
import { createSentinelFailoverProbe, replicationFields, type FailoverProbe } from './sentinel-failover-probe.js';
import { StoreError } from './store-error.js';

/**
 * Writes that must outlive a Sentinel failover: the refresh lock and the
 * rotated refresh token written under it.
 *
 * Between a replica's promotion and the moment clients follow it
 * (+switch-master), the old master still answers and acknowledges writes,
 * which are thrown away when it resynchronises from the new one. A lost
 * rotated refresh token ends the session at its next refresh (the provider
 * sees the spent one again); a lost lock lets a replica that already follows
 * the new master spend the same refresh token a second time.
 *
 * So such a write is followed by `WAIT 1` while a replica is attached: once a
 * replica has it, Sentinel promotes a replica that has it (it picks the most
 * advanced one among equal priorities). With none attached, either the replica
 * is down (nothing better exists: the write stands) or it was promoted: then
 * the write is made again on the promoted replica itself, found without
 * waiting for the Sentinels' announcement, and the rest of the flight (the
 * refresh under that lock) reads and writes there. `WAIT` blocks the
 * connection it runs on, so these writes have connections of their own and
 * never hold up the gateway's other calls.
 */
export interface ConfirmedWrites {
  /**
   * Runs `write` on one of the confirming connections (`on`, when given: the one
   * an earlier confirmed write of the same flight used) and returns its result
   * once it is safe from a failover; the connection is returned for the
   * flight's next calls. A write refused with NOREPLICAS (min-replicas-to-write)
   * is treated like an unacknowledged one; one whose connection failed, timed
   * out or reached a demoted master (READONLY) is made again. So `write` must
   * be safe to repeat.
   */
  run<T>(
    write: (conn: Redis, attempt: number) => Promise<T>,
    opts?: {
      on?: Redis;
      /** False when `write` wrote nothing (a SET NX that found the lock taken): nothing to confirm then. */
      wrote?: (value: T) => boolean;
    },
  ): Promise<{ value: T; conn: Redis }>;
  close(): Promise<void>;
}

// Two: a WAIT on one does not stall the other flight's commands.
const CONNECTIONS = 2;
const RETRY_DELAY_MS = 100;

export function createSentinelConfirmedWrites(
  client: Redis,
  config: RedisConfig,
  deps: { logger?: RedisLogger } = {},
): ConfirmedWrites {
  const { credentials, tls } = redisConnectionParts(config);
  const withScripts = (conn: Redis) => {
    // The main client logs the store's connection state; these follow the same nodes.
    conn.on('error', () => undefined);
    defineRedisScripts(conn);
    return conn;
  };
  return createConfirmedWrites({
    connections: Array.from({ length: CONNECTIONS }, () => withScripts(client.duplicate())),
    // The promoted replica itself, before the Sentinels announce it: writes must land there, not on the old master.
    connectTo: ({ host, port }) =>
      withScripts(
        new Redis({
          // A TLS socket failing twice must not take the gateway down (see redis-stream-guard.ts).
          Connector: GuardedStandaloneConnector,
          host,
          port,
          ...credentials,
          ...(tls ? { tls } : {}),
          commandTimeout: config.commandTimeoutMs,
          connectTimeout: config.commandTimeoutMs,
          maxRetriesPerRequest: 0,
          autoResendUnfulfilledCommands: false,
          reconnectOnError: () => false,
        }),
      ),
    probe: createSentinelFailoverProbe(config),
    // Well inside REDIS_COMMAND_TIMEOUT_MS: a replica on the same network acknowledges in about a round trip.
    waitTimeoutMs: Math.max(50, Math.floor(config.commandTimeoutMs / 2)),
    followForMs: config.commandTimeoutMs * 5,
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
}

export function createConfirmedWrites(deps: {
  connections: Redis[];
  connectTo: (node: { host: string; port: number }) => Redis;
  probe: FailoverProbe;
  waitTimeoutMs: number;
  /** How long one write may keep following successive promotions before it gives up (StoreError). */
  followForMs: number;
  logger?: RedisLogger;
}): ConfirmedWrites {
  const { connections, probe, waitTimeoutMs, followForMs } = deps;
  let next = 0;
  const pick = () => connections[next++ % connections.length]!;
  const direct = new Map<string, Redis>();
  // A probe opens a few short connections, and during a failover window many writes ask at once: they share one.
  const probes = new Map<string, Promise<{ host: string; port: number } | undefined>>();

  /** A connection straight to the promoted replica (the Sentinels may not name it yet). */
  const followTo = (node: { host: string; port: number }, attempt: number): Redis => {
    deps.logger?.warn(
      { event: 'redis_write_followed_failover', attempt, node: `${node.host}:${node.port}` },
      'a write reached a master that was just replaced; writing it again on the promoted replica',
    );
    const key = `${node.host}:${node.port}`;
    let conn = direct.get(key);
    if (!conn) direct.set(key, (conn = deps.connectTo(node)));
    return conn;
  };

  /**
   * Whether the write just made on `conn` will survive a failover: 'acked' once a replica has it; 'slow' when one
   * is attached but has not acknowledged by the deadline (the write is on its way); else the node that replaced
   * the master `conn` is on, or 'down' when none did (the replica is gone). `WAIT` only while a replica is
   * attached: without one it could only time out, and it blocks its connection meanwhile.
   */
  async function acknowledgement(conn: Redis, deadline: number): Promise<'acked' | 'slow' | 'down' | { host: string; port: number }> {
    for (;;) {
      const fields = replicationFields(await conn.info('replication'));
      if (Number(fields.get('connected_slaves') ?? 0) > 0) {
        if ((await conn.wait(1, waitTimeoutMs)) >= 1) return 'acked';
        if (Date.now() >= deadline) return 'slow';
        continue; // attached but behind, or it just left: look again
      }
      const replid = fields.get('master_replid');
      if (!replid) return 'down';
      let answer = probes.get(replid);
      if (!answer) {
        answer = probe.successorOf(replid).finally(() => probes.delete(replid));
        probes.set(replid, answer);
      }
      return (await answer) ?? 'down';
    }
  }

  return {
    async run(write, { on, wrote } = {}) {
      let conn = on ?? pick();
      const deadline = Date.now() + followForMs;
      for (let attempt = 1; ; attempt++) {
        let value: Awaited<ReturnType<typeof write>>;
        let state: Awaited<ReturnType<typeof acknowledgement>>;
        try {
          value = await write(conn, attempt);
          if (wrote && !wrote(value)) return { value, conn };
          state = await acknowledgement(conn, deadline);
        } catch (err) {
          const message = (err as Error).message;
          if ((err as Error).name === 'ReplyError' && !/^(NOREPLICAS|READONLY)/.test(message)) throw err;
          if (/^NOREPLICAS/.test(message)) {
            // The master refuses writes without a replica (min-replicas-to-write): promoted, or simply gone?
            const node = await acknowledgement(conn, deadline).catch(() => 'down' as const);
            if (typeof node === 'string') throw err;
            conn = followTo(node, attempt);
            continue;
          }
          // The connection dropped or timed out, or reached a demoted master (READONLY): it is following the
          // failover. Both writes made here are safe to repeat (a SET NX that accepts our own lock, a
          // compare-and-set merge), so try again shortly, on a connection that follows the Sentinels.
          if (Date.now() >= deadline) throw err;
          if (/^READONLY/.test(message)) conn = pick();
          await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
          continue;
        }
        // 'down': the replica is gone; nothing better than this master exists, and the write stands.
        if (typeof state === 'string') return { value, conn };
        if (Date.now() >= deadline) throw new StoreError('redis failover under way: a write could not be confirmed on the new master');
        conn = followTo(state, attempt);
      }
    },
    async close() {
      await Promise.all([...connections, ...direct.values()].map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}
