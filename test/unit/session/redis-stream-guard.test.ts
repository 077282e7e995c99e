import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import standaloneModule from 'ioredis/built/connectors/StandaloneConnector.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GuardedStandaloneConnector } from '../../../src/session/redis-stream-guard.js';

type Connector = { connect(emitter: () => void): Promise<Socket>; disconnect(): void };
type ConnectorClass = new (options: unknown) => Connector;
const PlainConnector = ((standaloneModule as unknown as { default?: ConnectorClass }).default ?? standaloneModule) as unknown as ConnectorClass;

// A TLS socket that cannot verify the server's certificate errors twice (the verification, then the server's
// alert): the second error is the one ioredis's `once` listeners leave unhandled.
const twoErrors = (stream: Socket) => () => {
  stream.emit('error', new Error('unable to verify the first certificate'));
  stream.emit('error', new Error('tlsv1 alert decode error'));
};

describe('Redis data-node sockets', () => {
  let server: Server;
  let port = 0;
  const connectors: Connector[] = [];
  const sockets: Socket[] = [];
  beforeEach(async () => {
    server = createServer((socket) => socket.on('error', () => {}));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterEach(async () => {
    // The plain connector's socket has no error listener left once the test used it up: a reset while the
    // server closes must not surface as an uncaught exception of the run.
    for (const s of sockets.splice(0)) s.on('error', () => {});
    for (const c of connectors.splice(0)) c.disconnect();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const open = async (Connector: ConnectorClass) => {
    const connector = new Connector({ host: '127.0.0.1', port });
    connectors.push(connector);
    const socket = await connector.connect(() => {});
    sockets.push(socket);
    // Connected before the test's errors, so the real connect cannot fail later on a socket without a listener.
    if (socket.connecting) await new Promise((resolve) => socket.once('connect', resolve));
    return socket;
  };

  it('survive a second error on one socket (ioredis alone would throw it as an uncaught exception)', async () => {
    expect(twoErrors(await open(GuardedStandaloneConnector as unknown as ConnectorClass))).not.toThrow();
  });

  it("are guarded because ioredis's own connector is not (if this fails, ioredis fixed it: drop the guard)", async () => {
    expect(twoErrors(await open(PlainConnector))).toThrow(/alert/);
  });
});
