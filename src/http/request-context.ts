import type { Context, Middleware, Next } from 'koa';
import type { Logger } from 'pino';
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
export function requestContext(logger: Logger): Middleware<GatewayState> {
  return (ctx: Context & { state: GatewayState }, next: Next) => {
    const requestId = requestIdFrom(ctx.req.headers['x-request-id']);
    ctx.state = new RequestState(requestId, logger);
    ctx.res.setHeader('X-Request-Id', requestId);
    if (logger.isLevelEnabled('info')) {
      const started = process.hrtime.bigint();
      ctx.res.once('close', () => {
        ctx.state.log.info(
          {
            method: ctx.method,
            path: ctx.path.length > 512 ? `${ctx.path.slice(0, 512)}…` : ctx.path,
            status: answeredStatus(ctx.res),
            duration_ms: Number(process.hrtime.bigint() - started) / 1e6,
            completed: ctx.res.writableFinished,
          },
          'request',
        );
      });
    }
    return next();
  };
}
