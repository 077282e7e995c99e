import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An OTLP/HTTP receiver that accepts and drops every export (BENCH_OTEL): the
 * gateway's tracing cost is measured with a receiver that answers at once, as
 * a Collector beside it would. Counts requests and bytes so the report can
 * show that spans really went out.
 */
export async function startOtlpSink(): Promise<{ url: string; stats(): { exports: number; bytes: number }; close(): Promise<void> }> {
  let exports = 0;
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      exports += 1;
      // An empty ExportTraceServiceResponse: zero bytes in protobuf.
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats: () => ({ exports, bytes }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
