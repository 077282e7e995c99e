import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Pool, errors as undiciErrors } from 'undici';
import { UpstreamTimeoutError, UpstreamUnreachableError, type StepUpRequiredError } from '../errors.js';
import { downstreamHeaderList } from './forward-headers.js';
import { droppedBody, upstreamStepUp } from './upstream-step-up.js';

export interface Upstream {
  /** Streams `req` to `origin + path` and the answer back into `res`. */
  forward(input: {
    req: IncomingMessage;
    res: ServerResponse;
    origin: string;
    path: string;
    headers: Record<string, string | string[]>;
    isGatewayCookie: (name: string) => boolean;
    /** A route's own timeoutMs (ROUTES_FILE); undefined = PROXY_TIMEOUT_MS. */
    headersTimeoutMs?: number | undefined;
    /**
     * The gateway's own headers for the answer (request id, security headers) when they were not set on
     * `res` already: sent in the same writeHead as the upstream's, which win when they name the same header.
     */
    ownHeaders?: OwnHeaders | undefined;
    /**
     * Sees each answer's status and headers before the client does (DPoP: the
     * upstream's nonce). Returning headers sends the request once more with
     * them and drops this answer; only offered (`canReplay`) for a first
     * attempt without a body, since a body streams and cannot be sent twice.
     */
    onAnswer?: ((statusCode: number, headers: IncomingHttpHeaders, canReplay: boolean) => Record<string, string | string[]> | undefined) | undefined;
  }): Promise<void>;
  close(): Promise<void>;
}

/** Flat [name, value, …] list, with every name's lower-case form alongside for the override check. */
export interface OwnHeaders {
  readonly list: readonly string[];
  readonly lowerNames: readonly string[];
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
    async forward({ req, res, origin, path, headers, isGatewayCookie, headersTimeoutMs, ownHeaders, onAnswer }) {
      const hangUp = new HangUpSignal();
      const onClose = () => {
        if (!res.writableFinished) hangUp.fire();
      };
      // on, not once: a response closes once, and once() wraps the listener in a closure of its own per request.
      res.on('close', onClose);
      const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;

      // pool.stream() writes the answer straight into `res` with undici's own
      // backpressure (res 'drain' resumes the socket): no intermediate Readable
      // and no stream.pipeline per request, which cost about a quarter of a
      // proxied request's CPU (docs/benchmarks.md). Once the factory has run,
      // undici owns `res`: an upstream reset destroys it, and a client that
      // hangs up aborts the upstream call.
      let answering = false;
      let replayHeaders: Record<string, string | string[]> | undefined;
      let stepUp: StepUpRequiredError | undefined;
      const pool = poolFor(origin);
      const send = (sent: Record<string, string | string[]>, canReplay: boolean) =>
        pool.stream(
          // headersTimeout undefined = the Pool's own (PROXY_TIMEOUT_MS).
          // The signal's type is undici's AbortSignal | EventEmitter; it duck-types (HangUpSignal).
          { path, method: req.method as 'GET', headers: sent, body: hasBody ? req : null, signal: hangUp as unknown as AbortSignal, headersTimeout: headersTimeoutMs },
          ({ statusCode, headers: answerHeaders }) => {
            if (onAnswer) replayHeaders = onAnswer(statusCode, answerHeaders as IncomingHttpHeaders, canReplay);
            if (replayHeaders && canReplay) return droppedBody();
            // RFC 9470: the upstream's own step-up challenge is answered by the gateway, once its body is dropped.
            stepUp = upstreamStepUp(statusCode, answerHeaders);
            if (stepUp) return droppedBody();
            answering = true;
            // One writeHead with a flat list: no setHeader per header, no header object built and then
            // assembled lazily by Node. Headers set on `res` before (the Koa path) merge as setHeader
            // would: the upstream's replace them.
            const list = downstreamHeaderList(answerHeaders, isGatewayCookie, []);
            if (ownHeaders) appendUnlessPresent(list, ownHeaders);
            res.writeHead(statusCode, list as string[]);
            return res;
          },
        );
      try {
        await send(headers, onAnswer !== undefined && !hasBody);
        if (replayHeaders && !answering) await send(replayHeaders, false);
      } catch (err) {
        if (stepUp && !hangUp.aborted) throw stepUp; // its dropped body broke off: the answer is ours all the same
        // Upstream reset mid-body or client gone: a status line cannot be taken back, so cut the stream.
        if (answering) {
          res.destroy();
          return;
        }
        // undici's header timeout also runs while an upload is stuck (the upstream stopped reading it), and
        // destroys the request body on the way out: that is the upstream's silence, not the client leaving.
        if (err instanceof undiciErrors.HeadersTimeoutError && !hangUp.aborted) throw mapUpstreamError(err);
        // The client left (its upload broke off, or it hung up while we waited): nobody to answer.
        if (hangUp.aborted || res.destroyed || (req.destroyed && !req.complete)) return;
        throw mapUpstreamError(err);
      } finally {
        res.off('close', onClose);
      }
      if (stepUp) throw stepUp;
    },

    async close() {
      await Promise.all([...pools.values()].map((pool) => pool.close()));
    },
  };
}

/**
 * Tells undici the client hung up before the answer began. undici takes any
 * object with `aborted`, `reason` and add/removeEventListener as a signal
 * (util.addAbortListener). An AbortController costs ~6 µs to make and wire up
 * (EventTarget); an EventEmitter ~1 µs with the once() wrapper undici puts
 * around its listener; this, a few property writes. One is made for every
 * proxied request.
 */
class HangUpSignal {
  aborted = false;
  reason: Error | undefined;
  private listeners: (() => void)[] | undefined;

  addEventListener(_type: 'abort', listener: () => void): void {
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const at = this.listeners?.indexOf(listener) ?? -1;
    if (at !== -1) this.listeners!.splice(at, 1);
  }

  fire(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = new undiciErrors.RequestAbortedError('the client went away');
    // Each listener once, as undici asks ({ once: true }).
    const listeners = this.listeners;
    this.listeners = undefined;
    for (const listener of listeners ?? []) listener();
  }
}

/** Adds the gateway's headers the upstream did not send itself (the upstream owns its content). */
function appendUnlessPresent(list: (string | string[])[], own: OwnHeaders): void {
  const upstreamCount = list.length;
  for (let i = 0; i < own.list.length; i += 2) {
    const lower = own.lowerNames[i >> 1]!;
    let present = false;
    for (let j = 0; j < upstreamCount; j += 2) {
      if (list[j] === lower) {
        present = true;
        break;
      }
    }
    if (!present) list.push(own.list[i]!, own.list[i + 1]!);
  }
}

function mapUpstreamError(err: unknown): Error {
  if (err instanceof undiciErrors.HeadersTimeoutError) return new UpstreamTimeoutError(err);
  // Refused, reset, DNS, TLS, connect timeout, closed before answering: the upstream is not there for us.
  return new UpstreamUnreachableError(err);
}
