import type { IncomingMessage, ServerResponse } from 'node:http';
import Koa, { type Context, type Middleware, type Next } from 'koa';
import { GatewayError, ProviderRejectedClientError, StepUpRequiredError, StoreUnavailableError } from '../errors.js';
import { StoreError } from '../session/store-error.js';
import type { GatewayState } from './gateway-state.js';
import { returnToFromReferer } from './return-to.js';
import { stepUpAnswer } from './step-up-answer.js';

export interface ErrorRendering {
  /** PUBLIC_URL's origin: a step-up answer's returnTo is the Referer's path only when it is on this origin. */
  readonly publicOrigin?: string;
}

/**
 * First in the chain: turns every thrown error into the contract's answer,
 * `{"error": code, "message": text}` (a short HTML page for a browser
 * navigation to /auth/*), hiding 5xx internals and logging them once.
 */
export function errorMiddleware(rendering: ErrorRendering = {}): Middleware<GatewayState> {
  return async (ctx: Context & { state: GatewayState }, next: Next) => {
    try {
      await next();
    } catch (caught) {
      const err = toGatewayError(caught);
      if (ctx.headerSent || !ctx.writable) {
        // A streamed answer already started: the best we can do is cut it.
        ctx.state.log?.warn({ err: summary(caught) }, 'error after response started');
        ctx.req.socket.destroy();
        return;
      }
      // A store outage is logged once per state change by the store's client
      // (redis-state-log.ts), not once per request: a down Redis under load
      // would otherwise flood the logs.
      if (err instanceof StoreUnavailableError) ctx.state.log?.debug({ err: summary(caught), code: err.code }, 'request failed');
      // The operator's problem, not the user's: say what the provider answered.
      else if (err instanceof ProviderRejectedClientError) {
        ctx.state.log?.error(
          { event: 'provider_rejected_client', code: err.code, ...err.logFields() },
          "the identity provider refused the gateway's client credentials",
        );
      } else if (err.status >= 500) ctx.state.log?.error({ err: summary(caught), code: err.code }, 'request failed');
      renderError(ctx, err, rendering);
    }
  };
}

/** An error of a request handled outside Koa, to be answered by errorMiddleware all the same. */
export interface PendingError {
  state: GatewayState;
  error: unknown;
  /** Runs in the Koa context before rendering (e.g. clearing the session cookie). */
  beforeRender?: (ctx: Context & { state: GatewayState }) => void;
}

/**
 * Answers an error of a request that was not handled by Koa (proxied requests
 * dispatched before it, gateway.ts) through errorMiddleware, the one
 * error-to-HTTP mapping: a Koa context is made for the error only.
 */
export function createErrorResponder(
  options: { trustProxy: boolean } & ErrorRendering,
): (req: IncomingMessage, res: ServerResponse, pending: PendingError) => void {
  const pendingByRequest = new WeakMap<IncomingMessage, PendingError>();
  const app = new Koa<GatewayState>({ proxy: options.trustProxy, maxIpsCount: 1 });
  app.silent = true; // errorMiddleware renders and logs
  app.use(errorMiddleware(options.publicOrigin !== undefined ? { publicOrigin: options.publicOrigin } : {}));
  app.use((ctx: Context & { state: GatewayState }) => {
    const pending = pendingByRequest.get(ctx.req)!;
    pendingByRequest.delete(ctx.req);
    ctx.state = pending.state;
    pending.beforeRender?.(ctx);
    throw pending.error;
  });
  const callback = app.callback();
  return (req, res, pending) => {
    pendingByRequest.set(req, pending);
    void callback(req, res);
  };
}

export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  if (err instanceof StoreError) return new StoreUnavailableError(err);
  const status = (err as { status?: unknown })?.status;
  if (typeof status === 'number' && status >= 400 && status < 600) {
    // Koa/http-errors (ctx.throw, body parsers): keep their status, name a code.
    const expose = (err as { expose?: boolean }).expose ?? status < 500;
    const message = expose ? (err as Error).message : 'Internal error.';
    return new GatewayError(status, codeForStatus(status), message, { cause: err, expose });
  }
  return new GatewayError(500, 'internal_error', 'Internal error.', { cause: err, expose: false });
}

function renderError(ctx: Context, err: GatewayError, rendering: ErrorRendering = {}): void {
  const message = err.expose ? err.message : 'Something went wrong on our side; try again shortly.';
  ctx.status = err.status;
  ctx.remove('Content-Length');
  ctx.set('Cache-Control', 'no-store');
  if (err instanceof StepUpRequiredError) {
    // RFC 9470: the challenge for API clients, and login_url for the SPA to send the browser to.
    const returnTo = rendering.publicOrigin ? returnToFromReferer(ctx.get('Referer') || undefined, rendering.publicOrigin) : '/';
    const answer = stepUpAnswer(err, returnTo);
    ctx.set('WWW-Authenticate', answer.wwwAuthenticate);
    ctx.body = { error: err.code, message, login_url: answer.loginUrl };
    return;
  }
  if (wantsHtmlPage(ctx)) {
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Content-Security-Policy', "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
    ctx.body = errorPage(err.status, err.code, message);
  } else {
    ctx.body = { error: err.code, message };
  }
}

/** A browser navigation (a link, or a same-origin form post to /auth/logout) gets a page; fetch() and APIs get JSON. */
function wantsHtmlPage(ctx: Context): boolean {
  return ctx.path.startsWith('/auth/') && ctx.accepts('json', 'html') === 'html';
}

function errorPage(status: number, code: string, message: string): string {
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${status} ${esc(code)}</title></head>
<body><h1>${esc(message)}</h1><p>Error <code>${esc(code)}</code>.</p><p><a href="/">Back to the start page</a></p></body></html>\n`;
}

function codeForStatus(status: number): string {
  const codes: Record<number, string> = {
    400: 'bad_request', 401: 'unauthenticated', 403: 'forbidden', 404: 'not_found', 405: 'method_not_allowed',
    413: 'payload_too_large', 414: 'uri_too_long', 415: 'unsupported_media_type', 429: 'too_many_requests',
    431: 'headers_too_large', 503: 'unavailable',
  };
  return codes[status] ?? (status >= 500 ? 'internal_error' : 'bad_request');
}

// Errors may carry request data in `cause`; log name, message and code only.
function summary(err: unknown): { name?: string; message?: string; code?: unknown } {
  const e = err as { name?: string; message?: string; code?: unknown; cause?: unknown };
  const cause = e?.cause as { message?: string } | undefined;
  return { name: e?.name, message: [e?.message, cause?.message].filter(Boolean).join(' <- '), code: e?.code };
}
