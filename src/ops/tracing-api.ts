import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { OidcClient } from '../oidc/oidc-client.js';
import type { TracedRefresher } from './trace-spans.js';
import type { SessionStore } from '../session/session-store.js';

/**
 * What the rest of the gateway sees of tracing: wrappers that add spans around
 * its parts, applied once at start-up. When tracing is off there is no such
 * object, nothing is wrapped, and no OpenTelemetry SDK module is ever loaded,
 * so a request pays nothing for it.
 */
export interface Tracing {
  /** Spans around every store call (the session lookup, the refresh lock, writes). */
  traceStore(store: SessionStore): SessionStore;
  /** Spans around the provider calls (code exchange, refresh grant, revocation, userinfo). */
  traceOidc(oidc: OidcClient): OidcClient;
  /** A span for each request that has to wait for fresh tokens; none for those that do not. */
  traceRefresher<R extends TracedRefresher>(refresher: R): R;
  /** Puts a refresh's outcome (RefreshOutcome) on the refresh span under way. */
  onRefreshOutcome(outcome: string): void;
  /** Records a wait for another request's or replica's refresh. */
  onLockWait(seconds: number): void;
  /**
   * A server span for each upgrade request (WebSocket handshakes): Node emits
   * those as 'upgrade', which the http instrumentation does not see. The span
   * covers the handshake, up to the answer's status line.
   */
  traceUpgrade(listener: UpgradeListener): UpgradeListener;
  /** Names server spans by PROXY_ROUTES prefix, so a trace list reads "GET /api", not "GET". */
  nameRoutes(prefixes: readonly string[]): void;
  /** pino mixin: trace_id and span_id of the span active while a line is logged. */
  logFields(): Record<string, string>;
  /** Sends the spans still buffered (at shutdown); never rejects, gives up after a couple of seconds. */
  shutdown(): Promise<void>;
}

/** The public http server's 'upgrade' listener. */
export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
