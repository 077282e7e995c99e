import type { Cluster, Redis } from 'ioredis';

/** The slice of a pino-style logger the Redis client needs. */
export interface RedisLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/**
 * Logs one line per connection state change of `client` (connected, lost,
 * reconnected), never one per retry or per failed command, and swallows the
 * client's 'error' events (an unhandled one would reach the console on every
 * retry). `secrets` are masked out of error texts before they are logged.
 */
export function logRedisStateChanges(
  client: Redis | Cluster,
  opts: { target: string; secrets: readonly string[]; logger?: RedisLogger },
): void {
  const { target, logger } = opts;
  let state: 'starting' | 'up' | 'down' = 'starting';
  let warnedUnreachable = false;
  let lastError: string | undefined;
  let downSinceMs = 0;

  const mask = (text: string): string => opts.secrets.reduce((t, s) => t.split(s).join('***'), text);
  const reason = (): string => lastError ?? 'connection closed';

  const onError = (err: unknown): void => {
    lastError = mask(err instanceof Error ? err.message : String(err));
    // Sentinel mode keeps retrying inside one connect attempt, so a start
    // with every Sentinel down shows up as errors without a 'reconnecting'.
    if (state === 'starting' && !warnedUnreachable) {
      warnedUnreachable = true;
      logger?.warn({ redis: target, reason: lastError }, 'redis not reachable yet; retrying');
    }
  };
  client.on('error', onError);
  // Cluster reports per-node failures separately; they only feed the next state line.
  client.on('node error', (err: unknown) => {
    lastError = mask(err instanceof Error ? err.message : String(err));
  });

  // Cluster: one master gone leaves the client 'ready' (the others answer), so say it per node.
  client.on('-node', (node: Redis) => {
    if (state === 'up') logger?.warn({ redis: target, node: `${node.options.host}:${node.options.port}`, reason: reason() }, 'redis cluster node lost');
  });
  client.on('+node', (node: Redis) => {
    if (state === 'up') logger?.info({ redis: target, node: `${node.options.host}:${node.options.port}` }, 'redis cluster node joined');
  });

  client.on('ready', () => {
    if (state === 'up') return;
    if (state === 'starting') {
      logger?.info({ redis: target }, 'redis connected');
    } else {
      logger?.info({ redis: target, downtime_ms: Date.now() - downSinceMs }, 'redis reconnected');
    }
    state = 'up';
    lastError = undefined;
  });

  // 'reconnecting' means an unplanned loss: a quit() or disconnect() ends
  // with 'end' instead, and is not worth a warning.
  client.on('reconnecting', () => {
    if (state === 'up') {
      state = 'down';
      downSinceMs = Date.now();
      logger?.error({ redis: target, reason: reason() }, 'redis connection lost; commands fail until it returns');
    } else if (state === 'starting' && !warnedUnreachable) {
      warnedUnreachable = true;
      logger?.warn({ redis: target, reason: reason() }, 'redis not reachable yet; retrying');
    }
  });
}
