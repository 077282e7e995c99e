import type { Cluster, Redis } from 'ioredis';
import type { SessionInvalidations } from './cached-store.js';
import { reconnectDelayMs } from './redis-client.js';
import { startHeartbeat, type Heartbeat } from './redis-heartbeat.js';
import { INVALIDATE_CHANNEL, onInvalidations } from './redis-invalidate-channel.js';
import type { RedisLogger } from './redis-state-log.js';

export interface RedisClusterInvalidationsDeps {
  cluster: Cluster;
  keyPrefix: string;
  logger?: RedisLogger;
  /** A master whose data connection has not answered a PING for this long (REDIS_COMMAND_TIMEOUT_MS) stops the cache. */
  staleAfterMs?: number;
  /** How often the set of masters is compared with the feeds, in ms (besides ioredis's own topology events). */
  checkIntervalMs?: number;
}

/** One master's invalidation feed: a connection of its own, tracking in broadcast mode and subscribed to its own pushes. */
interface Feed {
  readonly subscriber: Redis;
  readonly heartbeat: Heartbeat;
  tracking: boolean;
  /** The node answered that it is a replica now (a failover the client has not seen yet). */
  demoted: boolean;
  closed: boolean;
}

/**
 * Client-side caching coherence for Redis Cluster. Default tracking mode
 * remembers keys per connection, and ioredis spreads reads over one
 * connection per master that can change under us; broadcast mode (BCAST
 * PREFIX) needs no memory of reads at all: each master pushes the name of
 * every session key written, deleted, expired or evicted on it. So the
 * gateway keeps one feed per master, and the cache is live only while every
 * master the client routes to has a feed that is tracking and a data
 * connection that answers.
 *
 * Slot migration needs nothing more: MIGRATE deletes the key on the source
 * (a push from there), and every later write lands on a master whose feed
 * is already up. A new master (failover, resharding onto a new node) has no
 * feed yet, so the cache goes off, everything is dropped, and it comes back
 * once that master's feed tracks. Any change to the set of masters drops
 * everything and starts a new epoch, so a read begun under the old topology
 * is not cached.
 *
 * A planned failover (CLUSTER FAILOVER) leaves the old master running as a
 * replica, and a replica pushes nothing for the writes it replicates; a
 * client that is served from its cache sends no command that would be
 * MOVED either. So the heartbeat asks each master for its role, not just a
 * PING: a demoted master turns the cache off and makes the client reload
 * the slot map. What is left is one heartbeat interval
 * (REDIS_COMMAND_TIMEOUT_MS / 4) between the promotion and the cache
 * noticing it (docs/production-redis.md).
 */
export function createRedisClusterInvalidations(deps: RedisClusterInvalidationsDeps): SessionInvalidations {
  const { cluster, keyPrefix, logger } = deps;
  const staleAfterMs = deps.staleAfterMs ?? 1_000;
  const feeds = new Map<string, Feed>();
  const listeners: ((id: string | null) => void)[] = [];
  let live = false;
  let epoch = 0;
  let closed = false;
  let masterSet = '';
  let lastFailure: string | undefined;

  const emit = (id: string | null) => {
    for (const listener of listeners) listener(id);
  };
  const dropEverything = () => {
    epoch += 1;
    emit(null);
  };

  const masters = (): Redis[] => (cluster.status === 'ready' ? cluster.nodes('master') : []);

  /** Live = every master the client routes to has a tracking feed and answers. Logged once per change. */
  const recompute = (reason: string) => {
    const current = masters();
    const next =
      !closed &&
      current.length > 0 &&
      current.every((node) => {
        const feed = feeds.get(nodeKey(node));
        return feed !== undefined && feed.tracking && !feed.demoted && !feed.heartbeat.silent;
      });
    if (next === live) return;
    live = next;
    dropEverything();
    if (live) {
      lastFailure = undefined;
      logger?.info({ masters: current.length }, 'session cache on: every Redis Cluster master reports every change to a session');
    } else if (!closed) logger?.warn({ reason }, 'session cache off: reading every session from Redis');
  };

  function openFeed(node: Redis, key: string): Feed {
    const subscriber = node.duplicate({
      autoResubscribe: false,
      enableOfflineQueue: false,
      lazyConnect: false,
      readOnly: false,
      retryStrategy: reconnectDelayMs,
    });
    subscriber.on('error', () => undefined); // seen as close/reconnect; the data connections' errors are logged elsewhere
    // INFO rather than ROLE: the documented least-privilege ACL rule already grants it.
    const probe = {
      ping: async () => {
        const demoted = !/^role:master\r?$/m.test(await node.info('replication'));
        // At every beat until the client's slot map drops this node (sync then closes this feed): a
        // refresh answered by a node that has not heard of the failover yet brings back the old map, and
        // ioredis skips a refresh asked for while one is running. Nothing else would ask again while this
        // replica serves no traffic.
        if (demoted) cluster.refreshSlotsCache();
        if (demoted === feed.demoted) return;
        feed.demoted = demoted;
        recompute(`Redis ${key} is ${demoted ? 'no longer' : 'again'} a master`);
      },
    };
    const feed: Feed = {
      subscriber,
      tracking: false,
      demoted: false,
      closed: false,
      heartbeat: startHeartbeat(probe, {
        staleAfterMs,
        onSilent: () => recompute(`Redis ${key} has not answered a PING for ${staleAfterMs} ms`),
        onAnswer: () => recompute(`Redis ${key} answers again`),
      }),
    };
    const lost = (how: string) => () => {
      const was = feed.tracking;
      feed.tracking = false;
      if (was) dropEverything();
      recompute(`invalidation connection to ${key} ${how}`);
    };
    subscriber.on('close', lost('closed'));
    subscriber.on('reconnecting', lost('reconnecting'));
    subscriber.on('end', lost('ended'));
    subscriber.on('ready', () => {
      void (async () => {
        try {
          // Redirected to itself: one connection carries the feed, so one close means no feed.
          const id = String(await subscriber.call('CLIENT', 'ID'));
          await subscriber.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', id, 'BCAST', 'PREFIX', keyPrefix);
          await subscriber.subscribe(INVALIDATE_CHANNEL);
          if (feed.closed || subscriber.status !== 'ready') return;
          feed.tracking = true;
          recompute('feed up');
        } catch (err) {
          const reason = `${key}: ${(err as Error).message}`;
          // Once per distinct reason: a missing ACL permission would repeat at every reconnect.
          if (reason !== lastFailure) logger?.warn({ reason }, 'session cache off: Redis client tracking could not be switched on');
          lastFailure = reason;
          subscriber.disconnect(true);
        }
      })();
    });
    onInvalidations(subscriber, keyPrefix, { changed: emit, everything: dropEverything });
    return feed;
  }

  const closeFeed = (feed: Feed) => {
    feed.closed = true;
    feed.tracking = false;
    feed.heartbeat.stop();
    feed.subscriber.disconnect();
  };

  /** Opens a feed for each new master and closes those of nodes that are no longer masters. */
  const sync = (reason: string) => {
    if (closed) return;
    const current = masters();
    const keys = new Set(current.map(nodeKey));
    for (const [key, feed] of feeds) {
      if (!keys.has(key)) {
        closeFeed(feed);
        feeds.delete(key);
      }
    }
    for (const node of current) {
      const key = nodeKey(node);
      if (!feeds.has(key)) feeds.set(key, openFeed(node, key));
    }
    const signature = [...keys].sort().join(',');
    if (signature !== masterSet) {
      masterSet = signature;
      dropEverything(); // a read begun under the old set of masters is not cached
    }
    recompute(reason);
  };

  for (const event of ['ready', 'refresh', '+node', '-node'] as const) cluster.on(event, () => sync(`cluster ${event}`));
  for (const event of ['close', 'end', 'reconnecting'] as const) cluster.on(event, () => recompute(`cluster ${event}`));
  sync('start');
  const timer = setInterval(() => sync('check'), deps.checkIntervalMs ?? 5_000);
  timer.unref();

  return {
    get live() {
      if (live) for (const feed of feeds.values()) feed.heartbeat.notice();
      return live;
    },
    get epoch() {
      return epoch;
    },
    subscribe(listener) {
      listeners.push(listener);
    },
    async close() {
      clearInterval(timer);
      closed = true;
      recompute('closing');
      for (const feed of feeds.values()) closeFeed(feed);
      feeds.clear();
    },
  };
}

function nodeKey(node: Redis): string {
  return `${node.options.host ?? ''}:${node.options.port ?? ''}`;
}
