import { Redis, type Cluster } from 'ioredis';

/**
 * Holds a connection's writes until the end of this event-loop turn.
 *
 * Under load one turn of the loop handles many requests, one per ready
 * socket, and with REDIS_SESSION_CACHE=false each sends a GET. Written one by
 * one, every GET costs a write here and a read and a reply write in Redis.
 * Corked until the turn's check phase (setImmediate), the turn's GETs go in
 * one writev; Redis reads them at once and writes their replies together, so
 * they come back in one read too. A GET waits at most for the rest of its
 * turn: microseconds on an idle gateway. docs/benchmarks.md has the numbers.
 *
 * Only a ready standalone or Sentinel connection: before that ioredis queues
 * commands itself, and a Cluster client hides one socket per node.
 */
export type WriteBatch = (conn: Redis | Cluster) => void;

export function createWriteBatch(): WriteBatch {
  const corked: Redis['stream'][] = [];
  const flush = () => {
    // A stream replaced by a reconnect meanwhile is uncorked all the same: harmless once it is closed.
    for (const stream of corked) stream.uncork();
    corked.length = 0;
  };
  return (conn) => {
    if (!(conn instanceof Redis) || conn.status !== 'ready') return;
    const stream = conn.stream;
    // Corked once per turn: uncork() undoes one cork() each.
    if (corked.includes(stream)) return;
    if (corked.length === 0) setImmediate(flush);
    stream.cork();
    corked.push(stream);
  };
}
