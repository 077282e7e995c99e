import { context, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import type { OidcClient } from '../oidc/oidc-client.js';
import type { Logger } from 'pino';
import type { SessionRecord, SessionStore } from '../session/session-store.js';

/** What tracing needs of the refresher (src/proxy/token-refresher.ts), by shape: ops/ sits below proxy/. */
export interface TracedRefresher {
  needsRefresh(record: SessionRecord): boolean;
  ensureFresh(record: SessionRecord, log?: () => Logger): Promise<SessionRecord>;
}

/**
 * The gateway's own spans, where no library instrumentation can see what
 * happens: the session store behind its interface, the provider calls by
 * their meaning (the HTTP underneath is undici's span), and the refresh.
 *
 * No argument of any call is recorded: session ids are what the cookie
 * carries, and tokens, codes and secrets never go near an attribute. Errors
 * are recorded by class name only (messages may quote a provider's answer).
 */
export interface TraceSpans {
  traceStore(store: SessionStore): SessionStore;
  traceOidc(oidc: OidcClient): OidcClient;
  traceRefresher<R extends TracedRefresher>(refresher: R): R;
  /** The refresher's outcome name (RefreshOutcome). */
  onRefreshOutcome(outcome: string): void;
  onLockWait(seconds: number): void;
  logFields(): Record<string, string>;
}

export const ATTR_REFRESH_OUTCOME = 'oidc_bff.refresh.outcome';
export const ATTR_REFRESH_SHARED = 'oidc_bff.refresh.shared';
export const ATTR_LOCK_WAIT_MS = 'oidc_bff.refresh.lock_wait_ms';
export const ATTR_STORE_KIND = 'oidc_bff.store.kind';

export function createTraceSpans(tracer: Tracer): TraceSpans {
  // Refresh spans still open, so an outcome reported from deep inside the refresher lands on the right one.
  const refreshSpans = new WeakSet<Span>();
  const withOutcome = new WeakSet<Span>();

  function settle<T>(span: Span, run: () => Promise<T>): Promise<T> {
    let pending: Promise<T>;
    try {
      pending = run();
    } catch (err) {
      pending = Promise.reject(err);
    }
    return pending.then(
      (result) => {
        span.end();
        return result;
      },
      (err: unknown) => {
        const type = errorType(err);
        span.setAttribute('error.type', type);
        span.setStatus({ code: SpanStatusCode.ERROR, message: type });
        span.end();
        throw err;
      },
    );
  }

  function inSpan<T>(name: string, attributes: Record<string, string>, run: () => Promise<T>): Promise<T> {
    return tracer.startActiveSpan(name, { kind: SpanKind.INTERNAL, attributes }, (span) => settle(span, run));
  }

  return {
    traceStore(store) {
      const wrapped: Record<string, unknown> = { kind: store.kind };
      const attributes = { [ATTR_STORE_KIND]: store.kind };
      for (const key of Object.keys(store) as (keyof SessionStore)[]) {
        const value = store[key];
        // No peek: with tracing on, every session read goes through get and gets its span.
        if (typeof value !== 'function' || key === 'peek') continue;
        const method = value as (...args: unknown[]) => Promise<unknown>;
        const name = `session.${key}`;
        wrapped[key] = (...args: unknown[]) =>
          // Readiness probes and background work have no request span: they stay untraced.
          trace.getActiveSpan() === undefined ? method.apply(store, args) : inSpan(name, attributes, () => method.apply(store, args));
      }
      return wrapped as unknown as SessionStore;
    },

    traceOidc(oidc) {
      // Rest arguments: each method's optional tail (a DPoP key, max_age, an expected sub) must reach the
      // client whole, whatever is added to it later; a wrapper that names its parameters drops the new ones.
      return {
        ...oidc,
        exchangeCode: (...args) => inSpan('oidc.code_exchange', {}, () => oidc.exchangeCode(...args)),
        refresh: (...args) => inSpan('oidc.refresh_grant', {}, () => oidc.refresh(...args)),
        // Per-route tokens (client credentials, token exchange): the grant type, never its parameters.
        grant: (...args) => inSpan('oidc.grant', { 'oidc_bff.grant_type': args[0] }, () => oidc.grant(...args)),
        userInfo: (...args) => inSpan('oidc.userinfo', {}, () => oidc.userInfo(...args)),
        revoke: (...args) => inSpan('oidc.revoke', { 'oidc_bff.token_type': args[1] }, () => oidc.revoke(...args)),
      };
    },

    traceRefresher(refresher) {
      return {
        ...refresher,
        ensureFresh(record, log) {
          // Most requests carry a fresh token: no span for them.
          if (!refresher.needsRefresh(record)) return refresher.ensureFresh(record, log);
          return tracer.startActiveSpan('token.refresh', { kind: SpanKind.INTERNAL }, (span) => {
            refreshSpans.add(span);
            return settle(span, () => refresher.ensureFresh(record, log)).finally(() => {
              // Joined a refresh already under way in this process: the outcome is on that one's span.
              if (!withOutcome.has(span)) span.setAttribute(ATTR_REFRESH_SHARED, true);
            });
          });
        },
      };
    },

    onRefreshOutcome(outcome) {
      const span = trace.getActiveSpan();
      if (!span || !refreshSpans.has(span)) return;
      span.setAttribute(ATTR_REFRESH_OUTCOME, outcome);
      withOutcome.add(span);
    },

    onLockWait(seconds) {
      const span = trace.getActiveSpan();
      if (!span || !refreshSpans.has(span)) return;
      const ms = Math.round(seconds * 1000);
      span.setAttribute(ATTR_LOCK_WAIT_MS, ms);
      // Reported once the wait is over: drawn afterwards with its real start.
      const now = Date.now();
      tracer.startSpan('token.refresh.lock_wait', { kind: SpanKind.INTERNAL, startTime: now - ms }, context.active()).end(now);
    },

    logFields(): Record<string, string> {
      // A fresh object each time: pino merges the line's own fields into it.
      const span = trace.getActiveSpan();
      if (!span) return {};
      const spanContext = span.spanContext();
      return trace.isSpanContextValid(spanContext) ? { trace_id: spanContext.traceId, span_id: spanContext.spanId } : {};
    },
  };
}

function errorType(err: unknown): string {
  if (!(err instanceof Error)) return typeof err;
  return err.name && err.name !== 'Error' ? err.name : err.constructor.name;
}
