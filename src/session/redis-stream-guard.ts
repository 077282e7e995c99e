import { SentinelConnector } from 'ioredis';
import standaloneModule from 'ioredis/built/connectors/StandaloneConnector.js';
import type { AbstractConnector } from 'ioredis';
import type { NetStream } from 'ioredis/built/types.js';

type ConnectorClass = typeof SentinelConnector;
/** What ioredis's `Connector` option takes. */
type ConnectorConstructor = new (options: unknown) => AbstractConnector;
// A CommonJS module with __esModule: Node's ESM import hands over the whole exports object.
const StandaloneConnector = ((standaloneModule as unknown as { default?: ConnectorClass }).default ?? standaloneModule) as unknown as ConnectorClass;

const ignore = () => {};

/**
 * ioredis listens for a socket's errors with `once` (redis/ioredis#961, left
 * open): a TLS socket that fails twice — a certificate it cannot verify, then
 * the server's alert — throws the second error as an uncaught exception and
 * takes the whole gateway down, where it should log "redis not reachable yet"
 * and retry. This keeps one listener on every data-node socket for its whole
 * life; ioredis still sees the first error and reconnects as before.
 */
function guarded(Base: ConnectorClass): ConnectorConstructor {
  return class GuardedConnector extends Base {
    override async connect(...args: Parameters<SentinelConnector['connect']>): Promise<NetStream> {
      const stream = await super.connect(...args);
      stream.on('error', ignore);
      return stream;
    }
  } as unknown as ConnectorConstructor;
}

/** For single Redis and every Cluster node. */
export const GuardedStandaloneConnector = guarded(StandaloneConnector);
/** For Sentinel mode (finds the master through the Sentinels, then connects to it). */
export const GuardedSentinelConnector = guarded(SentinelConnector);
