import type { Redis } from 'ioredis';
import type { SessionInvalidations } from './cached-store.js';
import { startHeartbeat } from './redis-heartbeat.js';
import { INVALIDATE_CHANNEL, onInvalidations } from './redis-invalidate-channel.js';
import { parseInfo } from './redis-server-info.js';
import type { RedisLogger } from './redis-state-log.js';

export interface RedisInvalidationsDeps {
  /** The store's own connection: its reads are the ones Redis tracks. */
  client: Redis;
  keyPrefix: string;
  logger?: RedisLogger;
  /** How often both connections are checked (PING, CLIENT TRACKINGINFO), in ms. */
  checkIntervalMs?: number;
  /**
   * The feed counts as live only while the data connection answered a PING
   * within this many ms (REDIS_COMMAND_TIMEOUT_MS): a Redis that hangs without
   * dropping the connection stops the cache, so requests reach Redis and get
   * the contract's 503 instead of cached answers.
   */
  staleAfterMs?: number;
}

/**
 * Redis server-assisted client-side caching (CLIENT TRACKING, RESP2 with
 * REDIRECT): Redis remembers which session keys the store's connection read
 * and pushes the name of each one that is written, deleted, expired or
 * evicted afterwards, by any client, to a second connection subscribed to
 * `__redis__:invalidate`. That covers logouts and refreshes on other
 * replicas, older gateway versions and redis-cli alike.
 *
 * Fail-safe: the feed is `live` only after tracking was switched on for the
 * current pair of connections; any close, reconnect, failed check or
 * mismatched redirect makes it not live (callers stop caching and flush)
 * until it is set up again. It is also not live while the data connection
 * has not answered a PING for `staleAfterMs`: a hung Redis cannot send
 * invalidations either, and must be seen as the outage it is.
 */
export function createRedisInvalidations(deps: RedisInvalidationsDeps): SessionInvalidations {
  const { client, keyPrefix, logger } = deps;
  const staleAfterMs = deps.staleAfterMs ?? 1_000;
  const subscriber = client.duplicate({ autoResubscribe: false, enableOfflineQueue: false, lazyConnect: false });
  // Errors surface as close/reconnect below; the data connection's own errors are logged by redis-state-log.
  subscriber.on('error', () => undefined);
  const listeners: ((id: string | null) => void)[] = [];
  let live = false;
  let epoch = 0;
  let attempt = 0;
  // CLIENT ID and server run_id of the subscriber while it is subscribed (a reconnect makes it a new client).
  let subscribedAs: number | undefined;
  let subscriberRunId: string | undefined;
  let closed = false;
  let lastFailure: string | undefined;

  const emit = (id: string | null) => {
    for (const listener of listeners) listener(id);
  };

  const silentFor = `redis has not answered a PING for ${staleAfterMs} ms`;
  const heartbeat = startHeartbeat(client, {
    staleAfterMs,
    onSilent: () => goDown(silentFor),
    onAnswer: () => void setUp(),
  });

  const goDown = (reason: string) => {
    attempt += 1; // abandons any set-up in progress
    epoch += 1;
    if (live && !closed) logger?.warn({ reason }, 'session cache off: reading every session from Redis');
    live = false;
    emit(null);
  };

  // One set-up at a time: two racing ones (both connections turning ready, a heartbeat answer) would send
  // CLIENT ID to a connection the other had just subscribed, and fail it. A call during a set-up reruns it after.
  let settingUp = false;
  let again = false;
  async function setUp(): Promise<void> {
    if (settingUp) {
      again = true;
      return;
    }
    settingUp = true;
    try {
      do {
        again = false;
        await setUpOnce();
      } while (again && !closed);
    } finally {
      settingUp = false;
    }
  }

  async function setUpOnce(): Promise<void> {
    if (closed || live || client.status !== 'ready' || subscriber.status !== 'ready') return;
    const mine = ++attempt;
    try {
      if (subscribedAs === undefined) {
        // Asked before SUBSCRIBE: a RESP2 connection in subscriber mode answers nothing else.
        const id = Number(await subscriber.call('CLIENT', 'ID'));
        const runId = runIdOf(await subscriber.info('server'));
        await subscriber.subscribe(INVALIDATE_CHANNEL);
        [subscribedAs, subscriberRunId] = [id, runId];
      }
      // Sentinel: mid-failover the two connections can reach different masters, where the id names someone else.
      if (runIdOf(await client.info('server')) !== subscriberRunId) {
        subscriber.disconnect(true);
        throw new Error('the data and invalidation connections reached different Redis servers');
      }
      await client.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', String(subscribedAs));
      if (mine !== attempt) return;
      epoch += 1;
      live = true;
      lastFailure = undefined;
      emit(null);
      heartbeat.heard();
      logger?.info({}, 'session cache on: Redis reports every change to a session read here');
    } catch (err) {
      if (mine !== attempt) return;
      const reason = (err as Error).message;
      // Said once per distinct reason (an old Redis or a missing ACL permission would repeat every check).
      if (reason !== lastFailure) logger?.warn({ reason }, 'session cache off: Redis client tracking could not be switched on');
      lastFailure = reason;
      goDown(reason);
    }
  }

  onInvalidations(subscriber, keyPrefix, {
    changed: emit,
    everything() {
      epoch += 1;
      emit(null);
    },
  });

  for (const [connection, name] of [[client, 'data'], [subscriber, 'invalidation']] as const) {
    const lost = (how: string) => () => {
      if (connection === subscriber) subscribedAs = undefined;
      goDown(`${name} connection ${how}`);
    };
    connection.on('ready', () => void setUp());
    connection.on('close', lost('closed'));
    connection.on('reconnecting', lost('reconnecting'));
    connection.on('end', lost('ended'));
  }
  void setUp();

  // A connection can die without a FIN (a black-holed host), and the data
  // connection's redirect can point at a subscriber that is no longer there.
  const timer = setInterval(() => {
    // While Redis is silent the heartbeat brings the cache back; a set-up now would only time out.
    if (!live) return heartbeat.silent ? undefined : void setUp();
    const expected = subscribedAs;
    Promise.all([subscriber.ping(), client.call('CLIENT', 'TRACKINGINFO')])
      .then(([, info]) => {
        if (redirectOf(info) !== expected) goDown('tracking redirect no longer points at the subscriber');
      })
      .catch((err: unknown) => {
        if (live && subscribedAs === expected) {
          goDown(`check failed: ${(err as Error).message}`);
          subscriber.disconnect(true);
        }
      });
  }, deps.checkIntervalMs ?? 5_000);
  timer.unref();

  return {
    get live() {
      // Checked at every read, not only at the next heartbeat tick: nothing is served once Redis is silent
      // (onSilent goes down, and the heartbeat brings the cache back at the first answer).
      if (live) heartbeat.notice();
      return live;
    },
    get epoch() {
      return epoch;
    },
    subscribe(listener) {
      listeners.push(listener);
    },
    async close() {
      closed = true;
      clearInterval(timer);
      heartbeat.stop();
      goDown('closing');
      await subscriber.quit().catch(() => subscriber.disconnect());
    },
  };
}

function runIdOf(info: string): string | undefined {
  return parseInfo(info).get('run_id');
}

/** The `redirect` field of CLIENT TRACKINGINFO's flat [name, value, ...] reply. */
function redirectOf(info: unknown): number | undefined {
  if (!Array.isArray(info)) return undefined;
  const at = info.findIndex((v) => String(v) === 'redirect');
  return at === -1 ? undefined : Number(info[at + 1]);
}
