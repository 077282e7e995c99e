/**
 * The baseline: a bare Node reverse proxy with no auth and no logging, built
 * the way ours forwards (node:http server, one undici Agent keep-alive pool,
 * undici's `agent.stream()` writing the answer straight into the response, as
 * src/proxy/forward-request.ts does). It is the fastest Node proxy we know.
 * Run as its own process: PORT and TARGET (origin) from the environment.
 *
 * UNDICI_API=request makes it the common way instead: `agent.request` and
 * the body piped with stream/promises' pipeline (an AbortController and a
 * DOMException per request). The bench shows it as a second, informational
 * baseline: it is what our forwarder did before, and what most Node proxies do.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Agent } from 'undici';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
const target = process.env['TARGET'] ?? 'http://127.0.0.1:1';
const useStream = process.env['UNDICI_API'] !== 'request';
const agent = new Agent({ keepAliveTimeout: 30_000, headersTimeout: 30_000, bodyTimeout: 0, connections: 256 });

function requestHeaders(req: IncomingMessage): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && name !== 'host') headers[name] = value;
  }
  return headers;
}

function copyAnswerHead(res: ServerResponse, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
  res.statusCode = statusCode;
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) res.setHeader(name, value);
  }
}

const server = createServer(async (req, res) => {
  const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
  const options = { origin: target, path: req.url ?? '/', method: req.method as 'GET', headers: requestHeaders(req), body: hasBody ? req : null };
  try {
    if (useStream) {
      await agent.stream({ ...options, opaque: res }, ({ statusCode, headers, opaque }) => {
        copyAnswerHead(opaque as ServerResponse, statusCode, headers);
        return opaque as ServerResponse;
      });
    } else {
      const upstream = await agent.request(options);
      copyAnswerHead(res, upstream.statusCode, upstream.headers);
      await pipeline(upstream.body, res);
    }
  } catch {
    if (!res.headersSent) res.writeHead(502).end();
    else res.destroy();
  }
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env['PORT'] ?? 0), '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : ''}\n`);
});
process.on('SIGTERM', () => server.close(() => void agent.close().then(() => process.exit(0))));
