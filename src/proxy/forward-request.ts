import { Pool } from 'undici';
import { UpstreamCall, type UpstreamCallInput } from './upstream-call.js';

export interface Upstream {
  /** Streams `req` to `origin + path` and the answer back into `res`. */
  forward(input: UpstreamCallInput & { origin: string; headers: Record<string, string | string[]> }): Promise<void>;
  close(): Promise<void>;
}

/**
 * Keep-alive pools to every upstream (one undici Pool per origin, made on
 * first use: an Agent would look the origin's pool up in its map on every
 * request). Bodies stream both
 * ways and are never buffered. Errors before the answer's headers become
 * 502/504 for the error middleware; after them the stream is cut, since a
 * status line cannot be taken back.
 */
export function createUpstream(options: { headersTimeoutMs: number }): Upstream {
  const poolOptions = {
    keepAliveTimeout: 30_000,
    // undici restarts this clock while an upload makes progress, so a slow client is not mistaken for a
    // silent upstream, while an upstream that stops reading the upload still times out.
    headersTimeout: options.headersTimeoutMs,
    // Large downloads and long polls may go quiet for a while; the client's abort ends them.
    bodyTimeout: 0,
    connections: 256,
    // A host that never answers SYN is "unreachable" (502), and never waits longer than the header timeout.
    connect: { timeout: Math.min(10_000, options.headersTimeoutMs) },
  };
  const pools = new Map<string, Pool>();
  const poolFor = (origin: string): Pool => {
    let pool = pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, poolOptions);
      pools.set(origin, pool);
    }
    return pool;
  };

  return {
    forward(input) {
      const { req } = input;
      const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
      return new Promise<void>((resolve, reject) => {
        const call = new UpstreamCall(input, poolFor(input.origin), hasBody, resolve, reject);
        // A first attempt without a body may be sent once more (DPoP's nonce): a streamed body cannot.
        call.send(input.headers, input.onAnswer !== undefined && !hasBody);
      });
    },

    async close() {
      await Promise.all([...pools.values()].map((pool) => pool.close()));
    },
  };
}
