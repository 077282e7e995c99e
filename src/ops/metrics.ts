import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SessionStore } from '../session/session-store.js';
import { TallyCounter, TallyHistogram } from './tally-metrics.js';

/** The outcomes of bff_token_refreshes_total (the refresher's RefreshOutcome, token-refresher.ts, is this list). */
export const REFRESH_OUTCOMES = ['refreshed', 'reused', 'invalid_grant', 'client_rejected', 'unavailable', 'backoff', 'lost_race'] as const;

/** Every metric the gateway exports, on its own registry (no global state; two apps in one test process stay apart). */
export interface Metrics {
  readonly registry: Registry;
  /** Per request: tallied in plain numbers, exported at scrape time (tally-metrics.ts). */
  readonly httpRequests: TallyCounter<'route' | 'method' | 'status'>;
  readonly proxyDuration: TallyHistogram<'route'>;
  readonly logins: Counter<'outcome'>;
  readonly logouts: Counter<'kind'>;
  readonly refreshes: Counter<'outcome'>;
  /** Grants the gateway asked for on a route's behalf (ROUTES_FILE): token exchange and client credentials. */
  readonly routeTokenGrants: Counter<'grant' | 'outcome'>;
  readonly refreshLockWait: Histogram;
  readonly storeErrors: Counter<'operation'>;
  /** Per store call (one per proxied request): tallied like httpRequests. */
  readonly storeDuration: TallyHistogram<'operation'>;
}

export function createMetrics(options: { store: SessionStore; defaultMetrics?: boolean }): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'bff_' });
  const registers = [registry];

  const metrics: Metrics = {
    registry,
    httpRequests: new TallyCounter({
      name: 'bff_http_requests_total',
      help: 'Requests answered on the public port, by route, method and status.',
      labelNames: ['route', 'method', 'status'],
      registers,
    }),
    proxyDuration: new TallyHistogram({
      name: 'bff_proxy_request_duration_seconds',
      help: 'Time from request to the end of the proxied answer, by proxy prefix.',
      labelName: 'route',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    logins: new Counter({ name: 'bff_logins_total', help: 'Completed logins by outcome.', labelNames: ['outcome'], registers }),
    logouts: new Counter({
      name: 'bff_logouts_total',
      help: 'Sessions ended, by kind (user, all, backchannel, frontchannel, admin, invalid_grant: the provider refused a refresh).',
      labelNames: ['kind'],
      registers,
    }),
    routeTokenGrants: new Counter({
      name: 'bff_route_token_grants_total',
      help: 'Grants made for ROUTES_FILE routes, by grant (token_exchange, client_credentials) and outcome (issued, refused, unavailable).',
      labelNames: ['grant', 'outcome'],
      registers,
    }),
    refreshes: new Counter({
      name: 'bff_token_refreshes_total',
      help:
        'Token refreshes by outcome: refreshed, reused (another request\'s), invalid_grant (provider refused the grant, any 400: session ended), client_rejected (401/403: our client credentials; session kept), unavailable (transient; session kept), backoff (not tried: failed moments ago), lost_race.',
      labelNames: ['outcome'],
      registers,
    }),
    refreshLockWait: new Histogram({
      name: 'bff_refresh_lock_wait_seconds',
      help: "Time requests waited for another request's refresh.",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    storeErrors: new Counter({ name: 'bff_store_errors_total', help: 'Failed session store calls.', labelNames: ['operation'], registers }),
    storeDuration: new TallyHistogram({
      name: 'bff_store_operation_duration_seconds',
      help: 'Session store call latency by operation.',
      labelName: 'operation',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
  };
  // Every outcome exported at 0 from the start, not from its first occurrence (prom-client creates a labelled
  // series only when it is first incremented): the refresh-failure alert's rate() sees no increase in a series
  // that appears at 1, so a process's first client_rejected or unavailable refresh went unseen.
  for (const outcome of REFRESH_OUTCOMES) metrics.refreshes.labels({ outcome }).inc(0);

  new Gauge({
    name: 'bff_active_sessions',
    help: 'Live sessions in the store (counted from an index, never by scanning).',
    registers,
    async collect() {
      try {
        this.set((await options.store.status()).sessions);
      } catch {
        // Store down: leave the last value; bff_store_errors_total says why.
      }
    },
  });
  return metrics;
}
