import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { errors as undiciErrors, util as undiciUtil, type Dispatcher } from 'undici';
import { UpstreamTimeoutError, UpstreamUnreachableError, type StepUpRequiredError } from '../errors.js';
import { downstreamHeaderList, linesByName } from './forward-headers.js';
import { upstreamStepUp } from './upstream-step-up.js';

/** Upstream bodies of a replaced answer (a step-up 401, a DPoP nonce refusal) read and dropped at most, in bytes. */
const MAX_DROPPED_BODY_BYTES = 64 * 1024;

/** Flat [name, value, …] list, with every name's lower-case form alongside for the override check. */
export interface OwnHeaders {
  readonly list: readonly string[];
  readonly lowerNames: readonly string[];
}

export interface UpstreamCallInput {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  isGatewayCookie: (name: string) => boolean;
  /** A route's own timeoutMs (ROUTES_FILE); undefined = the pool's (PROXY_TIMEOUT_MS). */
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
}

/**
 * One proxied request's trip upstream and back, as undici's dispatch handler:
 * the answer's head goes out in one writeHead, its body is written into `res`
 * chunk by chunk with `res`'s backpressure (a full socket pauses undici until
 * 'drain'), and a client that hangs up aborts the call.
 *
 * It replaces `pool.stream()` plus an abort signal, which cost per request an
 * AsyncResource, a promise, the signal's listeners and stream.finished()'s
 * five listeners on `res` (docs/benchmarks.md). One instance per forwarded
 * request; `send` runs again for the one replay a DPoP nonce refusal earns.
 *
 * It implements undici's raw handler methods (onConnect, onHeaders, onData,
 * onComplete, onError), the ones undici's own `stream()` and `request()` are
 * built on: a handler with the newer controller methods is wrapped per call
 * in two more objects, and each answer's raw header list parsed into an
 * object first. The answer's headers go to the client straight from the raw
 * list; only a 401 or a DPoP route, which read them, get an object.
 */
export class UpstreamCall implements Dispatcher.DispatchHandler {
  private abort: ((err: Error) => void) | undefined;
  private resumeUndici: (() => void) | undefined;
  private clientGone = false;
  /** The answer's head went to the client: from now on a failure can only cut the stream. */
  private answering = false;
  /** Bytes of a replaced answer's body read so far; undefined while the answer is the client's. */
  private dropped: number | undefined;
  private canReplay = false;
  private replayHeaders: Record<string, string | string[]> | undefined;
  private stepUp: StepUpRequiredError | undefined;
  private readonly resume = () => this.resumeUndici?.();
  private readonly onClientClose = () => {
    if (this.input.res.writableFinished) return;
    this.clientGone = true;
    this.abort?.(clientWentAway());
  };

  constructor(
    private readonly input: UpstreamCallInput,
    private readonly dispatcher: Dispatcher,
    private readonly hasBody: boolean,
    private readonly resolve: () => void,
    private readonly reject: (err: Error) => void,
  ) {
    // on, not once: a response closes once, and once() wraps the listener in a closure of its own per call.
    input.res.on('close', this.onClientClose);
    // Closed already (nothing async ran since the caller looked, but a 'close' that was emitted cannot be heard):
    // the call is aborted as soon as undici starts it, instead of waiting on a 'drain' that never comes.
    if (input.res.destroyed) this.clientGone = true;
  }

  send(headers: Record<string, string | string[]>, canReplay: boolean): void {
    const { req, path, headersTimeoutMs } = this.input;
    this.canReplay = canReplay;
    this.abort = undefined;
    this.dispatcher.dispatch(
      // headersTimeout undefined = the pool's own (PROXY_TIMEOUT_MS).
      { path, method: req.method as Dispatcher.HttpMethod, headers, body: this.hasBody ? req : null, headersTimeout: headersTimeoutMs },
      this,
    );
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    if (this.clientGone) abort(clientWentAway());
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx (103 Early Hints): the final answer follows
    this.resumeUndici = resume;
    const { res, onAnswer, isGatewayCookie, ownHeaders } = this.input;
    if (onAnswer || statusCode === 401) {
      const headers = undiciUtil.parseHeaders(rawHeaders);
      if (onAnswer) {
        const replay = onAnswer(statusCode, headers, this.canReplay);
        if (replay && this.canReplay) {
          this.replayHeaders = replay;
          this.dropped = 0;
          return true;
        }
      }
      // RFC 9470: the upstream's own step-up challenge is answered by the gateway, once its body is dropped.
      this.stepUp = upstreamStepUp(statusCode, headers);
      if (this.stepUp) {
        this.dropped = 0;
        return true;
      }
    }
    this.answering = true;
    // One writeHead with a flat list: no setHeader per header, no header object built and then assembled
    // lazily by Node. Headers set on `res` before (the Koa path) merge as setHeader would: the upstream's win.
    const list = downstreamHeaderList(rawHeaders, isGatewayCookie);
    if (ownHeaders) appendUnlessPresent(list, ownHeaders);
    // Node 20 applies a list with setHeader once headers are set on `res`, so a repeated name would keep its
    // last line only: then each name's lines go as one array.
    res.writeHead(statusCode, res.getHeaderNames().length > 0 ? linesByName(list) : list);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.dropped !== undefined) {
      this.dropped += chunk.length;
      // An endless body must not hold the answer back: cutting it aborts the upstream call.
      if (this.dropped > MAX_DROPPED_BODY_BYTES) this.abort?.(new Error('upstream body too large to drop'));
      return true;
    }
    if (this.input.res.write(chunk)) return true;
    // undici stops reading the upstream until resume(): on the client's 'drain'.
    this.input.res.once('drain', this.resume);
    return false;
  }

  onComplete(): void {
    if (this.answering) {
      this.done();
      this.input.res.end();
      this.resolve();
      return;
    }
    // A replaced answer's body is read to its end, so the connection goes back to the pool.
    this.dropped = undefined;
    if (this.replayHeaders) {
      const replay = this.replayHeaders;
      this.replayHeaders = undefined;
      // Sent once undici's parser has returned: this runs inside it, and a dispatch may read another socket.
      queueMicrotask(() => this.send(replay, false));
      return;
    }
    this.done();
    if (this.stepUp) this.reject(this.stepUp);
    else this.resolve();
  }

  onError(err: Error): void {
    this.done();
    const { req, res } = this.input;
    if (this.stepUp && !this.clientGone) return this.reject(this.stepUp); // its dropped body broke off: the answer is ours all the same
    // Upstream reset mid-body or client gone: a status line cannot be taken back, so cut the stream.
    if (this.answering) {
      res.destroy();
      return this.resolve();
    }
    // undici's header timeout also runs while an upload is stuck (the upstream stopped reading it), and
    // destroys the request body on the way out: that is the upstream's silence, not the client leaving.
    if (err instanceof undiciErrors.HeadersTimeoutError && !this.clientGone) return this.reject(mapUpstreamError(err));
    // The client left (its upload broke off, or it hung up while we waited): nobody to answer.
    if (this.clientGone || res.destroyed || (req.destroyed && !req.complete)) return this.resolve();
    this.reject(mapUpstreamError(err));
  }

  private done(): void {
    this.input.res.off('close', this.onClientClose);
  }
}

/** Adds the gateway's headers the upstream did not send itself (the upstream owns its content). */
function appendUnlessPresent(list: string[], own: OwnHeaders): void {
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

const clientWentAway = () => new undiciErrors.RequestAbortedError('the client went away');

function mapUpstreamError(err: unknown): Error {
  if (err instanceof undiciErrors.HeadersTimeoutError) return new UpstreamTimeoutError(err);
  // Refused, reset, DNS, TLS, connect timeout, closed before answering: the upstream is not there for us.
  return new UpstreamUnreachableError(err);
}
