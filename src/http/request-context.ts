import type { Context, Middleware, Next } from 'koa';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { AccessLog } from '../ops/access-log.js';
import { answeredStatus } from '../ops/answered-status.js';
import { requestIdFrom } from '../request-id.js';
import type { GatewayState } from './gateway-state.js';

/** ctx.state of one request: its logger (a pino child) is made on first use, most proxied requests log nothing. */
class RequestState implements GatewayState {
  session?: GatewayState['session'];
  #log: Logger | undefined;
  constructor(
    readonly requestId: string,
    private readonly parent: Logger,
  ) {}
  get log(): Logger {
    return (this.#log ??= this.parent.child({ request_id: this.requestId }));
  }
}

/**
 * Gives each request an id (X-Request-Id, generated when absent or unsafe),
 * a child logger carrying it, and one access-log line when the answer is sent.
 * Paths are logged without the query: /auth/callback carries codes. A client
 * that left before any answer was sent is logged as status 499.
 *
 * Not an async function: it adds no promise of its own to every request,
 * and the access-log hook only exists while `info` is enabled.
 */
export function requestContext(logger: Logger, accessLog: AccessLog): Middleware<GatewayState> {
  return (ctx: Context & { state: GatewayState }, next: Next) => {
    const requestId = requestIdFrom(ctx.req.headers['x-request-id']);
    ctx.state = new RequestState(requestId, logger);
    ctx.res.setHeader('X-Request-Id', requestId);
    if (accessLog.enabled()) {
      const started = performance.now();
      ctx.res.once('close', () => {
        accessLog.record({
          requestId,
          method: ctx.method,
          path: ctx.path,
          status: answeredStatus(ctx.res),
          durationMs: performance.now() - started,
          completed: ctx.res.writableFinished,
        });
      });
    }
    return next();
  };
}

/** A request's state outside Koa (proxied requests dispatched before it, gateway.ts): the same id and lazy logger. */
export function requestState(requestId: string, logger: Logger): GatewayState {
  return new RequestState(requestId, logger);
}
