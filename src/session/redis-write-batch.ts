import { Redis, type Cluster } from 'ioredis';

/**
 * Holds a client's writes until the end of this event-loop turn.
 *
 * Under load one turn of the loop handles many requests, one per ready
 * socket, and with REDIS_SESSION_CACHE=false each sends a GET. Written one by
 * one, every GET costs a write here and a read and a reply write in Redis.
 * Corked until the turn's check phase (setImmediate), the turn's GETs go in
 * one writev per connection; Redis reads them at once and writes their
 * replies together, so they come back in one read too. A GET waits at most
 * for the rest of its turn: microseconds on an idle gateway.
 * docs/benchmarks.md has the numbers.
 *
 * Only ready connections: before that ioredis queues commands itself. A
 * Cluster client corks every master's connection, the ones its GETs go to.
 */
export type WriteBatch = (client: Redis | Cluster) => void;

export function createWriteBatch(): WriteBatch {
  const clients: (Redis | Cluster)[] = [];
  const streams: Redis['stream'][] = [];
  const flush = () => {
    // A stream replaced by a reconnect meanwhile is uncorked all the same: harmless once it is closed.
    for (const stream of streams) stream.uncork();
    streams.length = 0;
    clients.length = 0;
  };
  const cork = (conn: Redis) => {
    // Corked once per turn: uncork() undoes one cork() each.
    if (conn.status !== 'ready' || streams.includes(conn.stream)) return;
    conn.stream.cork();
    streams.push(conn.stream);
  };
  return (client) => {
    if (clients.includes(client)) return;
    if (clients.length === 0) setImmediate(flush);
    clients.push(client);
    if (client instanceof Redis) cork(client);
    else for (const node of client.nodes('master')) cork(node);
  };
}
