import { Cluster, type Redis } from 'ioredis';
import { StoreError } from './store-error.js';

/** The Redis figures `/status` shows (CONTRACT.md "Admin listener"). */
export interface RedisServerInfo {
  /** `redis_version`; for a Cluster the distinct versions of its masters, sorted, comma-separated (one in steady state). */
  readonly version: string;
  /** `used_memory` in Redis's own human format (`1.05M`); for a Cluster summed over the masters. */
  readonly used_memory: string;
  /** `connected_clients`; for a Cluster summed over the masters. */
  readonly connected_clients: number;
}

/**
 * Reads version, memory and client count from `INFO server/memory/clients`
 * of the single node or of every Cluster master (replicas are left out).
 */
export async function redisServerInfo(client: Redis | Cluster): Promise<RedisServerInfo> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  if (client instanceof Cluster && (client.status !== 'ready' || nodes.length === 0)) {
    throw new StoreError(`Redis Cluster is not ready (status ${client.status})`);
  }
  // Three INFO calls rather than one multi-section INFO: the latter needs Redis 7.
  const infos = await Promise.all(
    nodes.map(async (node) => {
      const sections = await Promise.all([node.info('server'), node.info('memory'), node.info('clients')]);
      return parseInfo(sections.join('\n'));
    }),
  );
  const versions = [...new Set(infos.map((i) => i.get('redis_version') ?? 'unknown'))].sort();
  const sum = (field: string): number => infos.reduce((total, i) => total + Number(i.get(field) ?? 0), 0);
  return {
    version: versions.join(','),
    used_memory: bytesToHuman(sum('used_memory')),
    connected_clients: sum('connected_clients'),
  };
}

/** The `field:value` lines of an INFO reply. */
export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return fields;
}

/** The format of Redis's own `used_memory_human` (bytesToHuman in server.c): `980B`, `1.50K`, `1.05M`. */
function bytesToHuman(bytes: number): string {
  const units = ['K', 'M', 'G', 'T', 'P'];
  if (bytes < 1024) return `${bytes}B`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(2)}${units[unit]}`;
}
