import { randomUUID } from 'node:crypto';
import type { Context, Middleware, Next } from 'koa';
import type { Logger } from 'pino';
import type { GatewayState } from './gateway-state.js';

// An incoming id is kept only if it cannot smuggle anything into logs or headers.
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The client's X-Request-Id when it is safe to log and echo, a fresh UUID otherwise. */
export function requestIdFrom(incoming: string | string[] | undefined): string {
  return typeof incoming === 'string' && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/**
 * Gives each request an id (X-Request-Id, generated when absent or unsafe),
 * a child logger carrying it, and one access-log line when the answer is sent.
 * Paths are logged without the query: /auth/callback carries codes.
 */
export function requestContext(logger: Logger): Middleware<GatewayState> {
  return async (ctx: Context & { state: GatewayState }, next: Next) => {
    const requestId = requestIdFrom(ctx.get('X-Request-Id'));
    ctx.state.requestId = requestId;
    ctx.state.log = logger.child({ request_id: requestId });
    ctx.set('X-Request-Id', requestId);
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
    await next();
  };
}
