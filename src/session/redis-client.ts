import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config/config.js';
import { logRedisStateChanges, type RedisLogger } from './redis-state-log.js';
import { GuardedSentinelConnector, GuardedStandaloneConnector } from './redis-stream-guard.js';
import { StoreError } from './store-error.js';

export type { RedisLogger } from './redis-state-log.js';
export { redisServerInfo } from './redis-server-info.js';

/** One connection to the store's Redis, whatever the topology behind it. */
export type RedisClient = Redis | Cluster;

export interface RedisClientDeps {
  logger?: RedisLogger;
}

// Long enough for a TCP + TLS handshake over a slow link, short enough that a
// black-holed host is noticed and retried. Commands never wait for it: there
// is no offline queue.
const CONNECT_TIMEOUT_MS = 5_000;
const RECONNECT_FIRST_DELAY_MS = 100;
const RECONNECT_MAX_DELAY_MS = 2_000;

/**
 * Delay before reconnect attempt `attempt` (1, 2, ...): 100 ms doubling up to
 * 2 s, ±20 % jitter so replicas that lost Redis together do not return in
 * lockstep. Never gives up: the gateway must recover by itself.
 */
export function reconnectDelayMs(attempt: number): number {
  const base = Math.min(RECONNECT_MAX_DELAY_MS, RECONNECT_FIRST_DELAY_MS * 2 ** Math.min(Math.max(attempt - 1, 0), 10));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/**
 * Creates the Redis client for `config.topology` (single, Sentinel or Cluster),
 * set up to fail fast and reconnect forever, logging one line per state change.
 *
 * Credentials and the db index come from the URL; `config.username` and
 * `config.password` override the URL's. `rediss://` turns on TLS (verified
 * against `config.tlsCaFile` when given, the system CAs otherwise) for the
 * data nodes and, in Sentinel mode, for the Sentinels too.
 */
export function createRedisClient(config: RedisConfig, deps: RedisClientDeps = {}): RedisClient {
  const target = parseRedisUrl(config.topology.url);
  const { credentials, tls } = redisConnectionParts(config);
  const { password } = credentials;
  // Options every data-node connection shares, in all topologies.
  const failFast = {
    commandTimeout: config.commandTimeoutMs,
    connectTimeout: CONNECT_TIMEOUT_MS,
    // Commands in flight when the connection drops are rejected, not replayed
    // after a reconnect: at most once, and the caller answers 503 at once.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
  } satisfies RedisOptions;

  let client: RedisClient;
  const topology = config.topology;
  switch (topology.mode) {
    case 'single':
      client = new Redis({
        ...failFast,
        ...credentials,
        host: target.host,
        port: target.port,
        db: target.db,
        enableOfflineQueue: false,
        retryStrategy: reconnectDelayMs,
        Connector: GuardedStandaloneConnector,
        ...(tls ? { tls } : {}),
      });
      break;
    case 'sentinel':
      client = new Redis({
        ...failFast,
        ...credentials,
        sentinels: topology.sentinels.map(({ host, port }) => ({ host, port })),
        name: topology.name,
        db: target.db,
        enableOfflineQueue: false,
        retryStrategy: reconnectDelayMs,
        // ioredis ends the client for good when this returns a non-number
        // while every Sentinel is unreachable; keep retrying instead.
        sentinelRetryStrategy: reconnectDelayMs,
        sentinelCommandTimeout: config.commandTimeoutMs,
        Connector: GuardedSentinelConnector,
        // Follow a failover the moment the Sentinels announce it (+switch-master), not when the old master
        // drops us: a demoted master that is still up keeps taking writes until Sentinel reconfigures it
        // (about 12 s in the soak), and those writes (rotated refresh tokens among them) are then discarded.
        failoverDetector: true,
        // A write that reaches a demoted master answers READONLY: find the master again.
        reconnectOnError: (err: Error) => err.message.startsWith('READONLY'),
        ...(topology.sentinelPassword ? { sentinelPassword: topology.sentinelPassword } : {}),
        ...(tls ? { tls, sentinelTLS: tls, enableTLSForSentinelMode: true } : {}),
      });
      break;
    case 'cluster':
      client = new Cluster(
        topology.nodes.map(({ host, port }) => ({ host, port })),
        clusterOptions({ failFast, credentials, tls, commandTimeoutMs: config.commandTimeoutMs }),
      );
      break;
  }

  const secrets = [password, topology.mode === 'sentinel' ? topology.sentinelPassword : undefined].filter(
    (s): s is string => Boolean(s),
  );
  logRedisStateChanges(client, { target: describeRedisTarget(config), secrets, ...(deps.logger ? { logger: deps.logger } : {}) });
  return client;
}

/** Credentials and TLS options of a data-node connection, as every client of this configuration uses them. */
export function redisConnectionParts(config: RedisConfig): {
  credentials: { username?: string; password?: string };
  tls: ConnectionOptions | undefined;
} {
  const target = parseRedisUrl(config.topology.url);
  const username = config.username ?? target.username;
  const password = config.password ?? target.password;
  return {
    credentials: { ...(username ? { username } : {}), ...(password ? { password } : {}) },
    tls: target.tls ? tlsOptions(config.tlsCaFile) : undefined,
  };
}

function clusterOptions(opts: {
  failFast: RedisOptions;
  credentials: { username?: string; password?: string };
  tls: ConnectionOptions | undefined;
  commandTimeoutMs: number;
}): ClusterOptions {
  return {
    // Rejects every command with "Cluster isn't ready" while the cluster is
    // down, instead of queueing it until the cluster returns
    // (https://github.com/redis/ioredis/issues/1604).
    enableOfflineQueue: false,
    clusterRetryStrategy: reconnectDelayMs,
    slotsRefreshTimeout: Math.max(1_000, opts.commandTimeoutMs),
    redisOptions: { ...opts.failFast, ...opts.credentials, Connector: GuardedStandaloneConnector, ...(opts.tls ? { tls: opts.tls } : {}) },
    // With TLS, keep the seed hostnames as they are so the certificate is
    // checked against the name the operator configured, not a resolved IP.
    ...(opts.tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
  };
}

interface RedisUrlParts {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly tls: boolean;
  readonly username?: string;
  readonly password?: string;
}

function parseRedisUrl(text: string): RedisUrlParts {
  const url = new URL(text);
  const username = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  const dbText = url.pathname.replace(/^\//, '');
  return {
    host: url.hostname.replace(/^\[|\]$/g, '') || 'localhost',
    port: url.port ? Number(url.port) : 6379,
    db: dbText ? Number(dbText) : 0,
    tls: url.protocol === 'rediss:',
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
  };
}

function tlsOptions(caFile: string | undefined): ConnectionOptions {
  // Read once, at start-up: a missing CA file is a start-up failure, not a per-connection one.
  return caFile ? { ca: readFileSync(caFile, 'utf8') } : {};
}

/** A log-safe description of where the client connects: mode and hosts, never credentials. */
export function describeRedisTarget(config: RedisConfig): string {
  const target = parseRedisUrl(config.topology.url);
  const scheme = target.tls ? 'rediss' : 'redis';
  const hosts = (nodes: readonly { host: string; port: number }[]): string =>
    nodes.map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`).join(',');
  const topology = config.topology;
  switch (topology.mode) {
    case 'single':
      return `single ${scheme}://${hosts([target])}/${target.db}`;
    case 'sentinel':
      return `sentinel ${scheme}://${topology.name}/${target.db} via ${hosts(topology.sentinels)}`;
    case 'cluster':
      return `cluster ${scheme}:// seeds ${hosts(topology.nodes)}`;
  }
}

/**
 * Runs `fn` on the single node, or on each Cluster master one after another
 * (per-node SCAN, DBSIZE). Rejects with StoreError while a Cluster is not
 * ready, so a caller never mistakes "no masters known" for "nothing there".
 */
export async function forEachMaster(client: RedisClient, fn: (node: Redis) => Promise<void>): Promise<void> {
  if (!(client instanceof Cluster)) {
    await fn(client);
    return;
  }
  const masters = client.nodes('master');
  if (client.status !== 'ready' || masters.length === 0) {
    throw new StoreError(`Redis Cluster is not ready (status ${client.status})`);
  }
  for (const node of masters) await fn(node);
}

/**
 * Resolves once the client is ready for commands; rejects with StoreError
 * after `timeoutMs`. Useful at start-up, since commands sent before the first
 * connection is up are rejected rather than queued.
 */
export async function waitUntilReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const onReady = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(new StoreError(`Redis not ready after ${timeoutMs} ms (status ${client.status})`));
    }, timeoutMs);
    client.once('ready', onReady);
  });
}
