import { randomUUID } from 'node:crypto';
import type { Context, Middleware, Next } from 'koa';
import type { Logger } from 'pino';
import type { GatewayState } from './gateway-state.js';

// An incoming id is kept only if it cannot smuggle anything into logs or headers.
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives each request an id (X-Request-Id, generated when absent or unsafe),
 * a child logger carrying it, and one access-log line when the answer is sent.
 * Paths are logged without the query: /auth/callback carries codes.
 *
 * The child logger is made on first use and the access-log hook only exists
 * while `info` is enabled: most proxied requests log nothing below warn, and
 * a pino child per request was a measurable share of their cost.
 */
export function requestContext(logger: Logger): Middleware<GatewayState> {
  return async (ctx: Context & { state: GatewayState }, next: Next) => {
    const incoming = ctx.get('X-Request-Id');
    const requestId = SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    let log: Logger | undefined;
    Object.defineProperty(ctx.state, 'log', {
      get: () => (log ??= logger.child({ request_id: requestId })),
      enumerable: true,
      configurable: true,
    });
    ctx.set('X-Request-Id', requestId);
    if (logger.isLevelEnabled('info')) {
      const started = process.hrtime.bigint();
      ctx.res.once('close', () => {
        ctx.state.log.info(
          {
            method: ctx.method,
            path: ctx.path.length > 512 ? `${ctx.path.slice(0, 512)}…` : ctx.path,
            status: ctx.res.statusCode,
            duration_ms: Number(process.hrtime.bigint() - started) / 1e6,
            completed: ctx.res.writableFinished,
          },
          'request',
        );
      });
    }
    await next();
  };
}
