import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Agent, errors as undiciErrors } from 'undici';
import { UpstreamTimeoutError, UpstreamUnreachableError } from '../errors.js';
import { downstreamResponseHeaders } from './forward-headers.js';

export interface Upstream {
  /** Streams `req` to `origin + path` and the answer back into `res`. */
  forward(input: {
    req: IncomingMessage;
    res: ServerResponse;
    origin: string;
    path: string;
    headers: Record<string, string | string[]>;
    isGatewayCookie: (name: string) => boolean;
  }): Promise<void>;
  close(): Promise<void>;
}

/**
 * Keep-alive pools to every upstream (one undici Agent). Bodies stream both
 * ways and are never buffered. Errors before the answer's headers become
 * 502/504 for the error middleware; after them the stream is cut, since a
 * status line cannot be taken back.
 */
export function createUpstream(options: { headersTimeoutMs: number }): Upstream {
  const agent = new Agent({
    keepAliveTimeout: 30_000,
    // undici starts this clock once the request body has been sent, and restarts it while a
    // slow upload drains, so a large upload is not mistaken for a silent upstream.
    headersTimeout: options.headersTimeoutMs,
    // Large downloads and long polls may go quiet for a while; the client's abort ends them.
    bodyTimeout: 0,
    connections: 256,
    // A host that never answers SYN is "unreachable" (502), and never waits longer than the header timeout.
    connect: { timeout: Math.min(10_000, options.headersTimeoutMs) },
  });

  return {
    async forward({ req, res, origin, path, headers, isGatewayCookie }) {
      const abort = new AbortController();
      const onClose = () => {
        if (!res.writableFinished) abort.abort();
      };
      res.once('close', onClose);
      const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;

      let upstream;
      try {
        upstream = await agent.request({
          origin,
          path,
          method: req.method as 'GET',
          headers,
          body: hasBody ? req : null,
          signal: abort.signal,
        });
      } catch (err) {
        res.off('close', onClose);
        // The client left (its upload broke off, or it hung up while we waited): nobody to answer.
        if (abort.signal.aborted || res.destroyed || (req.destroyed && !req.complete)) return;
        throw mapUpstreamError(err);
      }

      res.statusCode = upstream.statusCode;
      for (const [name, value] of Object.entries(downstreamResponseHeaders(upstream.headers, isGatewayCookie))) {
        res.setHeader(name, value);
      }
      try {
        await pipeline(upstream.body, res);
      } catch {
        // Upstream reset mid-body or client gone: cut both sides (pipeline already destroyed them).
        res.destroy();
      } finally {
        res.off('close', onClose);
      }
    },

    async close() {
      await agent.close();
    },
  };
}

function mapUpstreamError(err: unknown): Error {
  if (err instanceof undiciErrors.HeadersTimeoutError) return new UpstreamTimeoutError(err);
  // Refused, reset, DNS, TLS, connect timeout, closed before answering: the upstream is not there for us.
  return new UpstreamUnreachableError(err);
}
