/**
 * `npm run bench`: requests/s, latency and CPU per request of the gateway
 * (memory store; Redis with 10 and with 100 000 sessions) against a bare
 * Node reverse proxy, plus the Redis bytes one Keycloak-sized login costs.
 * Everything runs on loopback and is stopped at the end, on failure or Ctrl-C.
 *
 * Knobs (environment): BENCH_ROUNDS (5), BENCH_DURATION_S (10), BENCH_WARMUP_S (5),
 * BENCH_CONNECTIONS ("16,64"), BENCH_SESSIONS (100000), BENCH_LOG_LEVEL (warn),
 * BENCH_CPU_PROF (set: write --cpu-prof profiles of the gateways to bench/profiles/),
 * BENCH_TARGETS (comma list of parts of target names to run; default all), BENCH_LOAD_GENERATOR (wrk|autocannon),
 * BENCH_NODE_ARGS (extra node flags for the gateways), BENCH_EXTRA (comma list of bench/ server files to
 * measure too, started like bare-proxy.ts with TARGET set: for experiments), BENCH_COMPARE (comma list of
 * label=/path/to/dist/main.js: other builds of the gateway measured side by side, Redis with 10 sessions, cache on),
 * BENCH_OTEL (set: one more gateway, Redis with 10 sessions, tracing every request to a local OTLP sink that
 * drops what it receives, so the cost of tracing at 100 % sampling stands beside the same gateway with it off).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loginThroughProvider } from '../test/support/browser-login.js';
import { startIdentityProvider } from '../test/support/start-identity-provider.js';
import { startRedis, type RedisServer } from '../test/support/start-redis.js';
import { openBenchStore, seedSessions, waitForStore } from './bench-store.js';
import { coreLayout, onStop, pinProcess, stopAll } from './child-processes.js';
import { startGatewayProcess, type GatewayProcess } from './gateway-process.js';
import { keycloakSizedSession, KEYCLOAK_TOKEN_BYTES } from './keycloak-sized-session.js';
import { chooseLoadGenerator, runLoad } from './load-generator.js';
import { startServerProcess } from './node-server-process.js';
import { startOtlpSink } from './otlp-sink.js';
import { processCpuMs } from './process-cpu.js';
import { markdownTable, summarise, type Measurement } from './report-table.js';
import { bytesOfOneLogin } from './session-bytes.js';

const env = process.env;
const ROUNDS = Number(env['BENCH_ROUNDS'] ?? 5);
const DURATION_S = Number(env['BENCH_DURATION_S'] ?? 10);
const WARMUP_S = Number(env['BENCH_WARMUP_S'] ?? 5);
const CONNECTIONS = (env['BENCH_CONNECTIONS'] ?? '16,64').split(',').map(Number);
const LARGE_SESSIONS = Number(env['BENCH_SESSIONS'] ?? 100_000);
const LOG_LEVEL = env['BENCH_LOG_LEVEL'] ?? 'warn';
const SESSION_SECRET = 'bench-session-secret-0123456789abcdef-xyz';
const LARGE_LABEL = LARGE_SESSIONS.toLocaleString('en-US');
const NO_CACHE = 'REDIS_SESSION_CACHE=false';
const BASELINE = 'bare proxy';
const PIPELINE_BASELINE = 'bare proxy, agent.request + pipeline (informational)';
const GENERATOR = chooseLoadGenerator(env['BENCH_LOAD_GENERATOR']);
const PATH = '/api/items/42';
const TRACED = 'gateway, Redis, 10 sessions, tracing on (100 %)';

interface Target {
  readonly name: string;
  readonly pid: number;
  readonly url: string;
  readonly headers: Record<string, string>;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

async function redisPid(redis: RedisServer): Promise<number> {
  return Number(/process_id:(\d+)/.exec(await redis.cli('INFO', 'server'))?.[1]);
}

async function main(): Promise<void> {
  const layout = coreLayout();
  log(`cores: ${layout.cores}; proxy on ${layout.proxy ?? 'any'}, load generator on ${layout.loadGenerator ?? 'any'}, upstream+Redis on ${layout.helpers ?? 'any'}`);
  const wanted = env['BENCH_TARGETS']?.split(',').map((s) => s.trim());

  const idp = await startIdentityProvider({ accessTokenTtlSeconds: 7200, idTokenTtlSeconds: 7200, refreshTokenTtlSeconds: 7200 });
  onStop(() => idp.close());
  const [small, large, sizing] = await Promise.all([startRedis(), startRedis(), startRedis()]);
  for (const r of [small, large, sizing]) {
    onStop(() => r.stop());
    pinProcess(await redisPid(r), layout.helpers);
  }

  const upstream = await startServerProcess('./json-upstream.ts', {}, layout.helpers);
  const bare = await startServerProcess('./bare-proxy.ts', { TARGET: upstream.url }, layout.proxy);
  const barePipeline = await startServerProcess('./bare-proxy.ts', { TARGET: upstream.url, UNDICI_API: 'request' }, layout.proxy);

  const gatewayEnv = (extra: Record<string, string>) => ({
    NODE_ENV: 'production',
    OIDC_ALLOW_INSECURE_HTTP: 'true',
    OIDC_ISSUER: idp.issuer,
    OIDC_CLIENT_ID: idp.client.client_id,
    OIDC_CLIENT_SECRET: idp.client.client_secret ?? '',
    SESSION_SECRET,
    LOG_LEVEL,
    PROXY_ROUTES: `/api=${upstream.url}`,
    ...extra,
  });
  const nodeArgs = [
    ...(env['BENCH_CPU_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${fileURLToPath(new URL('./profiles', import.meta.url))}`] : []),
    ...(env['BENCH_NODE_ARGS']?.split(' ').filter(Boolean) ?? []),
  ];
  const gatewaySpecs: GatewaySpec[] = [
    { name: 'gateway, memory store', env: {}, seed: 0 },
    // The defaults: sessions held in the local cache, kept coherent by Redis client tracking.
    { name: 'gateway, Redis, 10 sessions', env: { REDIS_ENABLED: 'true', REDIS_URL: small.url }, redis: small, seed: 9 },
    { name: `gateway, Redis, ${LARGE_LABEL} sessions`, env: { REDIS_ENABLED: 'true', REDIS_URL: large.url }, redis: large, seed: LARGE_SESSIONS - 1 },
    ...uncachedGatewaySpecs(small, large),
    ...(env['BENCH_OTEL'] ? [await tracedGatewaySpec(small)] : []),
    // The same route through ROUTES_FILE with a policy that does work per request (a role check and the
    // three X-User-* headers): what a policy costs next to the default path above.
    {
      name: 'gateway, Redis, 10 sessions, route policy (roles + X-User-*)',
      env: { REDIS_ENABLED: 'true', REDIS_URL: small.url, PROXY_ROUTES: '', ROUTES_FILE: policyRoutesFile(upstream.url) },
      redis: small,
      seed: 9,
    },
  ].filter((s) => !wanted || wanted.some((w) => s.name.includes(w)));
  // Other builds of the gateway (git archive + tsc elsewhere), same Redis and sessions: what each change bought.
  for (const entry of env['BENCH_COMPARE']?.split(',').filter(Boolean) ?? []) {
    const [label, main] = entry.split('=') as [string, string];
    // The cache set explicitly: builds before 1e755e7 had it off by default, and the code is what is compared.
    const cacheOn = { REDIS_ENABLED: 'true', REDIS_URL: small.url, REDIS_SESSION_CACHE: 'true' };
    gatewaySpecs.push({ name: `build ${label}, Redis, 10 sessions`, env: cacheOn, redis: small, seed: 9, main });
  }

  const gateways: (GatewayProcess & { spec: (typeof gatewaySpecs)[number] })[] = [];
  for (const spec of gatewaySpecs) {
    const gw = await startGatewayProcess({
      name: spec.name.replace(/[^a-z0-9]+/gi, '-'),
      env: gatewayEnv(spec.env),
      cores: layout.proxy,
      nodeArgs,
      discardLogs: LOG_LEVEL === 'info' || LOG_LEVEL === 'debug' || LOG_LEVEL === 'trace',
      ...(spec.main ? { main: spec.main } : {}),
    });
    gateways.push(Object.assign(gw, { spec }));
  }
  await idp.updateClient({ redirect_uris: gateways.map((g) => `${g.url}/auth/callback`) });

  const targets: Target[] = [{ name: BASELINE, pid: bare.pid, url: `${bare.url}${PATH}`, headers: {} }];
  if (!wanted || wanted.some((w) => PIPELINE_BASELINE.includes(w))) {
    targets.push({ name: PIPELINE_BASELINE, pid: barePipeline.pid, url: `${barePipeline.url}${PATH}`, headers: {} });
  }
  for (const file of env['BENCH_EXTRA']?.split(',') ?? []) {
    const extra = await startServerProcess(file, { TARGET: upstream.url }, layout.proxy);
    targets.push({ name: file, pid: extra.pid, url: `${extra.url}${PATH}`, headers: { 'x-csrf': '1' } });
  }
  for (const gw of gateways) {
    const { browser, finalResponse } = await loginThroughProvider(`${gw.url}/auth/login`, { username: 'admin', password: 'test' });
    if (finalResponse.status !== 302) throw new Error(`login through ${gw.name} answered ${finalResponse.status}`);
    const cookie = `bff_session=${browser.jar.get(gw.url, 'bff_session')!.value}`;
    const headers = { cookie, 'x-csrf': '1' };
    const check = await fetch(`${gw.url}${PATH}`, { headers });
    if (check.status !== 200) throw new Error(`proxied request through ${gw.name} answered ${check.status}: ${await check.text()}`);
    await check.text();
    targets.push({ name: gw.spec.name, pid: gw.pid, url: `${gw.url}${PATH}`, headers });
  }

  // Other users' sessions, Keycloak-sized, written through the store like a login writes them.
  for (const redis of [small, large]) {
    const count = Math.max(0, ...gatewaySpecs.filter((s) => s.redis === redis).map((s) => s.seed));
    if (count === 0) continue;
    const store = openBenchStore(redis.url, SESSION_SECRET);
    await waitForStore(store);
    const started = Date.now();
    await seedSessions(store, count, (i) => keycloakSizedSession(Date.now(), { sub: `seeded-user-${i}` }));
    await store.close();
    log(`seeded ${count.toLocaleString('en-US')} sessions in ${((Date.now() - started) / 1000).toFixed(1)} s; used_memory ${/used_memory_human:(\S+)/.exec(await redis.cli('INFO', 'memory'))?.[1]}`);
  }

  const sizingStore = openBenchStore(sizing.url, SESSION_SECRET);
  await waitForStore(sizingStore);
  const loginBytes = await bytesOfOneLogin(sizing, sizingStore, keycloakSizedSession(Date.now()));
  await sizingStore.close();

  const runOne = async (target: Target, connections: number, durationS: number) => {
    const cpuBefore = processCpuMs(target.pid);
    const result = await runLoad(GENERATOR, { url: target.url, connections, durationS, headers: target.headers, cores: layout.loadGenerator });
    const cpuMs = processCpuMs(target.pid) - cpuBefore;
    if (result.non2xx > 0 || result.errors > 0) {
      throw new Error(`${target.name} at ${connections} connections: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
    }
    return { ...result, cpuMs };
  };

  log(`warm-up: ${WARMUP_S} s per proxy`);
  for (const target of targets) await runOne(target, Math.max(...CONNECTIONS), WARMUP_S);

  const measurements: Measurement[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const connections of CONNECTIONS) {
      // Rotate the order each round so no proxy always runs first or last.
      const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
      for (const target of order) {
        const m = await runOne(target, connections, DURATION_S);
        measurements.push({ ...m, target: target.name, connections, round });
        log(`round ${round}/${ROUNDS} c=${connections} ${target.name}: ${Math.round(m.rps)} req/s, p50 ${m.p50} ms, p99 ${m.p99} ms, ${((m.cpuMs * 1000) / m.requests).toFixed(0)} µs CPU/req`);
      }
    }
  }

  const order = (name: string) => targets.findIndex((t) => t.name === name);
  const rows = summarise(measurements, BASELINE).sort((x, y) => x.connections - y.connections || order(x.target) - order(y.target));
  const redisVersion = /redis_version:(\S+)/.exec(await small.cli('INFO', 'server'))?.[1];
  const cpuModel = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
  const out = [
    '',
    `Machine: ${layout.cores} cores (${cpuModel}), Node ${process.version}, Redis ${redisVersion}, load average at end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    `Runs: ${ROUNDS} interleaved rounds × ${DURATION_S} s per proxy and connection count, after ${WARMUP_S} s warm-up; ${GENERATOR}; gateway LOG_LEVEL=${LOG_LEVEL}; GET ${PATH} (small JSON)`,
    '',
    markdownTable(rows),
    '',
    `Redis bytes of one login (Keycloak-sized tokens: access ${KEYCLOAK_TOKEN_BYTES.access}, refresh ${KEYCLOAK_TOKEN_BYTES.refresh}, ID ${KEYCLOAK_TOKEN_BYTES.id} bytes), MEMORY USAGE per key:`,
    '',
    '| key | MEMORY USAGE bytes | value bytes |',
    '|---|---:|---:|',
    ...loginBytes.map((k) => `| \`${k.key}\` | ${k.bytes} | ${k.valueBytes ?? '—'} |`),
    `| **total** | **${loginBytes.reduce((s, k) => s + k.bytes, 0)}** | |`,
    '',
    sessionCountComparison(measurements),
    ...(otlpSink ? ['', `OTLP sink (${TRACED}): ${otlpSink.stats().exports} export requests, ${otlpSink.stats().bytes.toLocaleString('en-US')} bytes received`] : []),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

/**
 * p50 and req/s with 100 000 sessions relative to 10, with and without the
 * session cache: the median over rounds of each round's ratio (the two ran
 * back to back), which cancels most of a shared machine's drift.
 */
function sessionCountComparison(measurements: readonly Measurement[]): string {
  const lines: string[] = [];
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  const pct = (ratio: number) => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)} %`;
  for (const suffix of ['', `, ${NO_CACHE}`]) {
    for (const c of CONNECTIONS) {
      const of = (name: string) => measurements.filter((m) => m.connections === c && m.target === name);
      const few = of(`gateway, Redis, 10 sessions${suffix}`);
      const many = of(`gateway, Redis, ${LARGE_LABEL} sessions${suffix}`);
      const pairs = few.flatMap((f) => {
        const m = many.find((x) => x.round === f.round);
        return m ? [{ p50: m.p50 / f.p50, rps: m.rps / f.rps }] : [];
      });
      if (pairs.length === 0) continue;
      lines.push(
        `${c} connections${suffix ? ` (${NO_CACHE})` : ''}: p50 ${median(few.map((m) => m.p50)).toFixed(2)} → ${median(many.map((m) => m.p50)).toFixed(2)} ms, ` +
          `per-round ratio median ${pct(median(pairs.map((p) => p.p50)))} (p50), ${pct(median(pairs.map((p) => p.rps)))} (req/s), from 10 to ${LARGE_LABEL} sessions`,
      );
    }
  }
  return lines.join('\n');
}

let otlpSink: Awaited<ReturnType<typeof startOtlpSink>> | undefined;

/** The default Redis gateway with tracing on, every request sampled, exported (protobuf) to a sink on loopback. */
async function tracedGatewaySpec(small: RedisServer): Promise<GatewaySpec> {
  const sink = await startOtlpSink();
  otlpSink = sink;
  onStop(() => sink.close());
  const tracing = { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_TRACES_SAMPLER: 'always_on', OTEL_SERVICE_NAME: 'oidc-bff-bench' };
  return { name: TRACED, env: { REDIS_ENABLED: 'true', REDIS_URL: small.url, ...tracing }, redis: small, seed: 9 };
}

interface GatewaySpec {
  name: string;
  env: Record<string, string>;
  redis?: RedisServer;
  /** Sessions of other users to seed into that Redis. */
  seed: number;
  main?: string;
}

/** What the local session cache buys: the same Redis, read by every proxied request. */
function uncachedGatewaySpecs(small: RedisServer, large: RedisServer): GatewaySpec[] {
  const off = { REDIS_ENABLED: 'true', REDIS_SESSION_CACHE: 'false' };
  return [
    { name: `gateway, Redis, 10 sessions, ${NO_CACHE}`, env: { ...off, REDIS_URL: small.url }, redis: small, seed: 9 },
    { name: `gateway, Redis, ${LARGE_LABEL} sessions, ${NO_CACHE}`, env: { ...off, REDIS_URL: large.url }, redis: large, seed: LARGE_SESSIONS - 1 },
  ];
}

try {
  await main();
} finally {
  await stopAll();
}

/** A routes file whose /api route checks a role and sends the X-User-* headers (the bench user is admin). */
function policyRoutesFile(upstreamUrl: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'bench-routes-')), 'routes.yaml');
  writeFileSync(
    file,
    ['routes:', '  - prefix: /api', `    target: ${upstreamUrl}`, '    roles: { anyOf: [admin] }', '    userHeaders: [X-User-Sub, X-User-Email, X-User-Roles]', ''].join('\n'),
  );
  return file;
}
