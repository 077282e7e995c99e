/**
 * The bench's upstream API, run as its own process: a minimal node:http server
 * answering every request with a small JSON body over keep-alive.
 * PORT from the environment; prints "listening <port>" when ready.
 */
import { createServer } from 'node:http';

const body = Buffer.from(JSON.stringify({ id: 42, name: 'widget', tags: ['a', 'b'], price: 9.99, in_stock: true }));
const server = createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : ''}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
