import { Redis } from 'ioredis';
import type { RedisConfig } from '../config/config.js';
import { redisConnectionParts } from './redis-client.js';
import { GuardedStandaloneConnector } from './redis-stream-guard.js';

export interface FailoverProbe {
  /**
   * The node that has taken over from the master whose replication id is `replid`, if any: a replica promoted
   * from it keeps that id as its master_replid2 (PSYNC2), which no other node has.
   */
  successorOf(replid: string): Promise<{ host: string; port: number } | undefined>;
}

/**
 * Asks the nodes the Sentinels know (the master they name, its replicas)
 * whether one of them was promoted from the given master: the replica knows
 * the moment it is promoted, a second or more before the Sentinels announce
 * it, and that is the window to close. A demoted master that still believes
 * it is one (Sentinel has not reconfigured it yet) does not count.
 */
export function createSentinelFailoverProbe(config: RedisConfig): FailoverProbe {
  const topology = config.topology;
  if (topology.mode !== 'sentinel') throw new Error('createSentinelFailoverProbe: not a Sentinel topology');
  const { credentials, tls } = redisConnectionParts(config);
  const timeout = config.commandTimeoutMs;
  const ask = async (target: { host: string; port: number }, auth: { username?: string; password?: string }, ...args: string[]): Promise<unknown> => {
    const conn = new Redis({
      // A TLS socket failing twice must not take the gateway down (see redis-stream-guard.ts).
      Connector: GuardedStandaloneConnector,
      host: target.host,
      port: target.port,
      lazyConnect: true,
      connectTimeout: timeout,
      commandTimeout: timeout,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      ...auth,
      ...(tls ? { tls } : {}),
    });
    conn.on('error', () => undefined);
    try {
      await conn.connect();
      return await conn.call(args[0]!, ...args.slice(1));
    } finally {
      conn.disconnect();
    }
  };
  const sentinelAuth = topology.sentinelPassword ? { password: topology.sentinelPassword } : {};

  return {
    async successorOf(replid) {
      const nodes = new Map<string, { host: string; port: number }>();
      const add = (host: string | undefined, port: unknown) => {
        if (host && Number(port) > 0) nodes.set(`${host}:${port}`, { host, port: Number(port) });
      };
      await Promise.all(
        topology.sentinels.map(async (s) => {
          const [master, replicas] = await Promise.all([
            ask(s, sentinelAuth, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', topology.name).catch(() => undefined),
            ask(s, sentinelAuth, 'SENTINEL', 'REPLICAS', topology.name).catch(() => undefined),
          ]);
          if (Array.isArray(master)) add(master[0] as string, master[1]);
          if (Array.isArray(replicas)) {
            for (const fields of replicas as string[][]) {
              const f = new Map<string, string>();
              for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!);
              add(f.get('ip'), f.get('port'));
            }
          }
        }),
      );
      const found = await Promise.all(
        [...nodes.values()].map(async (node) => {
          const info = await ask(node, credentials, 'INFO', 'replication').catch(() => '');
          const f = replicationFields(String(info));
          return f.get('role') === 'master' && f.get('master_replid2') === replid ? node : undefined;
        }),
      );
      return found.find((n) => n !== undefined);
    },
  };
}

/** INFO's `field:value` lines. */
export function replicationFields(info: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of info.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) fields.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  return fields;
}
