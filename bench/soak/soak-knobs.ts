/**
 * Every knob of `npm run soak` (environment variables; defaults are the
 * production-shaped run of the reliability report) plus `--seed N` and
 * `--storm`, which select the other two modes.
 */
const env = process.env;
const num = (name: string, fallback: number): number => {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got "${raw}"`);
  return value;
};
const flag = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : (process.argv[i + 1] ?? '');
};

export const knobs = {
  /** Gateway sessions logged in through the provider. */
  sessions: num('SOAK_SESSIONS', 10_000),
  minutes: num('SOAK_MINUTES', 10),
  /**
   * The events are spread over the first this-many minutes (default: the whole run); the rest is steady
   * load, long enough for the replicas' RSS to be judged over several of GC's sawtooth periods.
   */
  eventsMinutes: num('SOAK_EVENTS_MINUTES', num('SOAK_MINUTES', 10)),
  /** Proxied GETs per second, spread round robin over the sessions. */
  rps: num('SOAK_RPS', 500),
  /** Keep-alive connections from the load generator to HAProxy. */
  connections: num('SOAK_CONNECTIONS', 64),
  maxInFlight: num('SOAK_MAX_IN_FLIGHT', 1000),
  websockets: num('SOAK_WEBSOCKETS', 200),
  wsReconnectMs: num('SOAK_WS_RECONNECT_MS', 100),
  accessTokenTtlS: num('SOAK_ACCESS_TOKEN_TTL_S', 60),
  /**
   * The gateway's TOKEN_REFRESH_SKEW_SECONDS. Shorter than the provider outage,
   * so that tokens really expire while the provider is down (with the default
   * 30 s every token would be refreshed before it could).
   */
  refreshSkewS: num('SOAK_REFRESH_SKEW_S', 5),
  /**
   * Sentinel's down-after-milliseconds: a production-like 5 s, so the 2 s
   * CLIENT PAUSE is a stall and not a failover (the test harness's 1 s turns
   * it into a failover while the old master still takes writes).
   */
  sentinelDownAfterMs: num('SOAK_SENTINEL_DOWN_AFTER_MS', 5000),
  warmupS: num('SOAK_WARMUP_S', 60),
  /**
   * Seconds of each replica process's life under load left out of the RSS and fd flatness check: its
   * session cache filling and V8 sizing its heap to the load. A replica started into the full load reaches
   * its live-heap plateau within about two minutes (docs/reliability.md).
   */
  processWarmupS: num('SOAK_PROCESS_WARMUP_S', 120),
  minRecoveryS: num('SOAK_MIN_RECOVERY_S', 30),
  clientPauseMs: num('SOAK_CLIENT_PAUSE_MS', 2000),
  providerDownS: num('SOAK_PROVIDER_DOWN_S', 15),
  loginConcurrency: num('SOAK_LOGIN_CONCURRENCY', 16),
  /** Comma list of parts of event names to inject (e.g. "failover,pause"); default all five. */
  events: env['SOAK_EVENTS']?.split(',').map((e) => e.trim().toLowerCase()).filter(Boolean),
  sampleS: num('SOAK_SAMPLE_S', 5),
  replicas: 3,
  logLevel: env['SOAK_LOG_LEVEL'] ?? 'warn',
  /** Markdown file the report goes into (its soak sections replaced); "none" = print only. */
  reportFile: env['SOAK_REPORT'] ?? 'docs/reliability.md',
  /** Heading label, e.g. "SMOKE run". */
  label: env['SOAK_LABEL'] ?? 'Full run',
  /** Seed mode: sessions written through the store. */
  seedSessions: Number(flag('--seed') ?? env['SOAK_SEED_SESSIONS'] ?? 0),
  /** Seconds per p50 measurement in seed mode, and rounds of it. */
  seedMeasureS: num('SOAK_SEED_MEASURE_S', 20),
  seedRounds: num('SOAK_SEED_ROUNDS', 3),
  storm: process.argv.includes('--storm'),
  stormSockets: num('SOAK_STORM_SOCKETS', 2000),
  stormSessions: num('SOAK_STORM_SESSIONS', 200),
} as const;

export type Knobs = typeof knobs;
