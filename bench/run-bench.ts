/**
 * `npm run bench`: requests/s, latency, CPU per request and RSS of the gateway
 * (memory store; Redis with 10 and with 100 000 sessions; at the bench's log
 * level and at the default LOG_LEVEL=info) against the shared bare Node proxy
 * (../shared/bench/bare-node-proxy.mjs, copied into bench/.baseline.mjs at run
 * time), plus the Redis bytes one Keycloak-sized login costs. Ratios are
 * against that baseline; the older bare proxies (bench/bare-proxy.ts) are
 * informational rows. Everything runs on loopback and is stopped at the end,
 * on failure or Ctrl-C.
 *
 * Knobs (environment): BENCH_ROUNDS (5), BENCH_DURATION_S (10), BENCH_WARMUP_S (5),
 * BENCH_CONNECTIONS ("16,64"), BENCH_SESSIONS (100000), BENCH_PROCESSES (2: processes per row, taking turns round by
 * round, since one build in separate processes has read several µs per request apart), BENCH_PAIRING (round: one
 * baseline run a round, each row's ratio against it; adjacent: a baseline run before, between and after the rows,
 * each ratio against the two runs beside it, which doubles the run's time and suits a host whose speed swings by
 * 2× for minutes at a time), BENCH_LOG_LEVEL (warn: the level of every gateway row
 * not marked LOG_LEVEL=info), BENCH_CPU_PROF (set: write --cpu-prof profiles of the proxies to bench/profiles/),
 * BENCH_TARGETS (comma list of rows to run besides the baseline, which always runs: a row's `id` (allGatewaySpecs
 * below; an entry that picks nothing prints them all) picks that row alone, anything else every row whose name
 * contains it; default all),
 * BENCH_LOAD_GENERATOR (wrk|autocannon),
 * BENCH_NODE_ARGS (extra node flags for the gateways), BENCH_EXTRA (comma list of bench/ server files to
 * measure too, started like bare-proxy.ts with TARGET set: for experiments), BENCH_COMPARE (comma list of
 * label=/path/to/dist/main.js: other builds of the gateway measured side by side, Redis with 10 sessions, cache on),
 * BENCH_VARIANTS (semicolon list of label=node flags and settings, e.g. "semi24=--max-semi-space-size=24" or
 * "nocache=REDIS_SESSION_CACHE=false": this build with these flags after the container's and NAME=value
 * words as gateway settings, Redis with 10 sessions, side by side with the shipped flags),
 * BENCH_OTEL (set: one more gateway, Redis with 10 sessions, tracing every request to a local OTLP sink that
 * drops what it receives, so the cost of tracing at 100 % sampling stands beside the same gateway with it off).
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { loginThroughProvider } from '../test/support/browser-login.js';
import { startIdentityProvider } from '../test/support/start-identity-provider.js';
import { startRedis, startRedisCluster, type RedisClusterSetup, type RedisServer } from '../test/support/start-redis.js';
import { emptyLog, logLines } from './access-log.js';
import { openBenchStore, seedSessions, waitForStore } from './bench-store.js';
import { coreLayout, onStop, pinProcess, stopAll } from './child-processes.js';
import { benchGatewayEnv, startGatewayProcess, type GatewayProcess } from './gateway-process.js';
import { keycloakSizedSession, KEYCLOAK_TOKEN_BYTES } from './keycloak-sized-session.js';
import { chooseLoadGenerator, runLoad } from './load-generator.js';
import { startServerProcess } from './node-server-process.js';
import { startOtlpSink } from './otlp-sink.js';
import { processCpuMs } from './process-cpu.js';
import { processRssMiB } from './process-memory.js';
import { routesFile } from './routes-file.js';
import { cpuUsPerRequest, markdownTable, summarise, type Measurement } from './report-table.js';
import { bytesOfOneLogin } from './session-bytes.js';
import { median } from './stats.js';
import { copySharedBaseline, startSharedBaseline } from './shared-baseline.js';

const env = process.env;
const ROUNDS = Number(env['BENCH_ROUNDS'] ?? 5);
const DURATION_S = Number(env['BENCH_DURATION_S'] ?? 10);
const WARMUP_S = Number(env['BENCH_WARMUP_S'] ?? 5);
const CONNECTIONS = (env['BENCH_CONNECTIONS'] ?? '16,64').split(',').map(Number);
const LARGE_SESSIONS = Number(env['BENCH_SESSIONS'] ?? 100_000);
const LOG_LEVEL = env['BENCH_LOG_LEVEL'] ?? 'warn';
const PROCESSES = Number(env['BENCH_PROCESSES'] ?? 2);
if (!Number.isInteger(PROCESSES) || PROCESSES < 1) throw new Error(`BENCH_PROCESSES must be a whole number above 0, got "${env['BENCH_PROCESSES']}"`);
const PAIRING = env['BENCH_PAIRING'] ?? 'round';
if (PAIRING !== 'round' && PAIRING !== 'adjacent') throw new Error(`BENCH_PAIRING must be round or adjacent, got "${PAIRING}"`);
/** The processes of one row, by index (Target.copy). */
const COPIES = [...Array(PROCESSES).keys()];
const SESSION_SECRET = 'bench-session-secret-0123456789abcdef-xyz';
const LARGE_LABEL = LARGE_SESSIONS.toLocaleString('en-US');
const NO_CACHE = 'REDIS_SESSION_CACHE=false';
const BASELINE = 'bare proxy (baseline: Pool.stream, one writeHead)';
const STREAM_BASELINE = 'bare proxy, Agent.stream + setHeader (informational)';
const PIPELINE_BASELINE = 'bare proxy, agent.request + pipeline (informational)';
const AT_INFO = 'LOG_LEVEL=info';
/** A route policy's role check (ROUTES_FILE YAML); the bench user is admin. */
const ROLE_CHECK = '    roles: { anyOf: [admin] }';
const GENERATOR = chooseLoadGenerator(env['BENCH_LOAD_GENERATOR']);
const PATH = '/api/items/42';
const TRACED = 'gateway, Redis, 10 sessions, tracing on (100 %)';

/** One proxy process. A row of the table is PROCESSES of them, taking turns round by round. */
interface Target {
  readonly id: string;
  readonly name: string;
  /** Which of the row's processes (0-based). */
  readonly copy: number;
  readonly pid: number;
  readonly url: string;
  readonly headers: Record<string, string>;
  /** Set for a gateway that writes an access line per request: emptied before each run, its lines counted after. */
  readonly accessLog?: string;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

async function redisPid(redis: RedisServer): Promise<number> {
  return Number(/process_id:(\d+)/.exec(await redis.cli('INFO', 'server'))?.[1]);
}

async function main(): Promise<void> {
  const layout = coreLayout();
  log(`cores: ${layout.cores}; proxy on ${layout.proxy ?? 'any'}, load generator on ${layout.loadGenerator ?? 'any'}, upstream+Redis on ${layout.helpers ?? 'any'}`);
  const wanted = env['BENCH_TARGETS']?.split(',').map((s) => s.trim()).filter(Boolean);
  copySharedBaseline(); // before anything starts: without the baseline there is nothing to compare with

  const idp = await startIdentityProvider({ accessTokenTtlSeconds: 7200, idTokenTtlSeconds: 7200, refreshTokenTtlSeconds: 7200 });
  onStop(() => idp.close());
  const [small, large, sizing] = await Promise.all([startRedis(), startRedis(), startRedis()]);
  for (const r of [small, large, sizing]) {
    onStop(() => r.stop());
    pinProcess(await redisPid(r), layout.helpers);
  }

  const upstream = await startServerProcess('./json-upstream.ts', {}, layout.helpers);
  const profileArgs = env['BENCH_CPU_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${fileURLToPath(new URL('./profiles', import.meta.url))}`] : [];
  const bares = [];
  for (const _copy of COPIES) bares.push(await startSharedBaseline(upstream.url, layout.proxy, profileArgs));

  const gatewayEnv = (extra: Record<string, string>) => ({
    ...benchGatewayEnv({ idp, upstreamUrl: upstream.url, sessionSecret: SESSION_SECRET, logLevel: LOG_LEVEL }),
    ...extra,
  });
  const nodeArgs = [...profileArgs, ...(env['BENCH_NODE_ARGS']?.split(' ').filter(Boolean) ?? [])];
  const allGatewaySpecs: GatewaySpec[] = [
    { id: 'memory', name: 'gateway, memory store', env: {}, seed: 0 },
    // The defaults: sessions held in the local cache, kept coherent by Redis client tracking.
    { id: 'redis-10', name: 'gateway, Redis, 10 sessions', env: { REDIS_ENABLED: 'true', REDIS_URL: small.url }, redis: small, seed: 9 },
    {
      id: 'redis-large',
      name: `gateway, Redis, ${LARGE_LABEL} sessions`,
      env: { REDIS_ENABLED: 'true', REDIS_URL: large.url },
      redis: large,
      seed: LARGE_SESSIONS - 1,
    },
    ...uncachedGatewaySpecs(small, large),
    // The default log level: one JSON access line per request, written to a real file.
    { id: 'memory-info', name: `gateway, memory store, ${AT_INFO}`, env: { LOG_LEVEL: 'info' }, seed: 0 },
    {
      id: 'redis-10-info',
      name: `gateway, Redis, 10 sessions, ${AT_INFO}`,
      env: { REDIS_ENABLED: 'true', REDIS_URL: small.url, LOG_LEVEL: 'info' },
      redis: small,
      seed: 9,
    },
    // The same gateway without the container's node flags (the Dockerfile's CMD): what the bigger young generation buys.
    {
      id: 'redis-10-v8-defaults',
      name: "gateway, Redis, 10 sessions, V8's default young generation",
      env: { REDIS_ENABLED: 'true', REDIS_URL: small.url },
      redis: small,
      seed: 9,
      v8Defaults: true,
    },
    ...(await clusterGatewaySpecs(wanted)),
    ...(env['BENCH_OTEL'] ? [await tracedGatewaySpec(small)] : []),
    // The same route through ROUTES_FILE with a policy that does work per request (a role check and the
    // three X-User-* headers): what a policy costs next to the default path above.
    {
      id: 'policy',
      name: 'gateway, Redis, 10 sessions, route policy (roles + X-User-*)',
      env: { REDIS_ENABLED: 'true', REDIS_URL: small.url, PROXY_ROUTES: '', ROUTES_FILE: policyRoutesFile(upstream.url) },
      redis: small,
      seed: 9,
    },
    // The issue's "route with a role check" as written: the role check alone, nothing else the policy adds.
    {
      id: 'roles',
      name: 'gateway, Redis, 10 sessions, route policy (a role check)',
      env: { REDIS_ENABLED: 'true', REDIS_URL: small.url, PROXY_ROUTES: '', ROUTES_FILE: routesFile(upstream.url, [ROLE_CHECK]) },
      redis: small,
      seed: 9,
    },
    // OIDC_DPOP and a `dpop: true` route: a fresh ES256 proof signed per request (the upstream does not verify it),
    // so this row next to `policy` is what proof signing costs.
    {
      id: 'dpop',
      name: 'gateway, Redis, 10 sessions, DPoP route (a proof signed per request)',
      env: { REDIS_ENABLED: 'true', REDIS_URL: small.url, OIDC_DPOP: 'true', PROXY_ROUTES: '', ROUTES_FILE: routesFile(upstream.url, ['    dpop: true']) },
      redis: small,
      seed: 9,
    },
  ];
  const informational = [
    { id: 'bare-agent-stream', name: STREAM_BASELINE },
    { id: 'bare-pipeline', name: PIPELINE_BASELINE },
  ];
  // Other builds of the gateway (git archive + tsc elsewhere), same Redis and sessions: what each change bought.
  const compared: GatewaySpec[] = (env['BENCH_COMPARE']?.split(',').filter(Boolean) ?? []).map((entry) => {
    const [label, main] = entry.split('=') as [string, string];
    // The cache set explicitly: builds before 1e755e7 had it off by default, and the code is what is compared.
    const cacheOn = { REDIS_ENABLED: 'true', REDIS_URL: small.url, REDIS_SESSION_CACHE: 'true' };
    return { id: `build-${label}`, name: `build ${label}, Redis, 10 sessions`, env: cacheOn, redis: small, seed: 9, main };
  });
  // This build with other node flags or settings (BENCH_VARIANTS): what a runtime flag or a setting buys.
  for (const entry of env['BENCH_VARIANTS']?.split(';').filter(Boolean) ?? []) {
    const at = entry.indexOf('=');
    if (at <= 0) throw new Error(`BENCH_VARIANTS entries are label=flags, got "${entry}"`);
    const label = entry.slice(0, at);
    const words = entry.slice(at + 1).split(' ').filter(Boolean);
    // NAME=value words are the gateway's settings, the rest node flags.
    const isSetting = (word: string) => /^[A-Z][A-Z0-9_]*=/.test(word);
    const settings = Object.fromEntries(words.filter(isSetting).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
    compared.push({
      id: `variant-${label}`,
      name: `gateway, Redis, 10 sessions, ${words.join(' ')}`,
      env: { REDIS_ENABLED: 'true', REDIS_URL: small.url, ...settings },
      redis: small,
      seed: 9,
      nodeArgs: words.filter((w) => !isSetting(w)),
    });
  }
  const extraFiles = env['BENCH_EXTRA']?.split(',').filter(Boolean) ?? [];
  const chosen = rowFilter(wanted, [...informational, ...allGatewaySpecs, ...compared, ...extraFiles.map((file) => ({ id: file, name: file }))]);
  // BENCH_COMPARE, BENCH_VARIANTS and BENCH_EXTRA rows run whenever they are given.
  const gatewaySpecs = [...allGatewaySpecs.filter(chosen), ...compared];

  const gateways: (GatewayProcess & { spec: (typeof gatewaySpecs)[number]; copy: number })[] = [];
  for (const spec of gatewaySpecs) {
    for (const copy of COPIES) {
      const gw = await startGatewayProcess({
        name: `${spec.name.replace(/[^a-z0-9]+/gi, '-')}-${copy + 1}`,
        env: gatewayEnv(spec.env),
        cores: layout.proxy,
        nodeArgs: [...nodeArgs, ...(spec.nodeArgs ?? [])],
        v8Defaults: spec.v8Defaults === true,
        ...(spec.main ? { main: spec.main } : {}),
      });
      gateways.push(Object.assign(gw, { spec, copy }));
    }
  }
  await idp.updateClient({ redirect_uris: gateways.map((g) => `${g.url}/auth/callback`) });

  const targets: Target[] = bares.map((bare, copy) => ({ id: 'bare', name: BASELINE, copy, pid: bare.pid, url: `${bare.url}${PATH}`, headers: {} }));
  // The baseline of earlier runs (the way src/proxy/forward-request.ts forwards), and the common way before it.
  const informationalEnv = { 'bare-agent-stream': {}, 'bare-pipeline': { UNDICI_API: 'request' } };
  for (const row of informational.filter(chosen)) {
    for (const copy of COPIES) {
      const proxy = await startServerProcess('./bare-proxy.ts', { TARGET: upstream.url, ...informationalEnv[row.id as keyof typeof informationalEnv] }, layout.proxy);
      targets.push({ ...row, copy, pid: proxy.pid, url: `${proxy.url}${PATH}`, headers: {} });
    }
  }
  for (const file of extraFiles) {
    for (const copy of COPIES) {
      const extra = await startServerProcess(file, { TARGET: upstream.url }, layout.proxy);
      targets.push({ id: file, name: file, copy, pid: extra.pid, url: `${extra.url}${PATH}`, headers: { 'x-csrf': '1' } });
    }
  }
  for (const gw of gateways) {
    const { browser, finalResponse } = await loginThroughProvider(`${gw.url}/auth/login`, { username: 'admin', password: 'test' });
    if (finalResponse.status !== 302) throw new Error(`login through ${gw.name} answered ${finalResponse.status}`);
    const cookie = `bff_session=${browser.jar.get(gw.url, 'bff_session')!.value}`;
    const headers = { cookie, 'x-csrf': '1' };
    const check = await fetch(`${gw.url}${PATH}`, { headers });
    if (check.status !== 200) throw new Error(`proxied request through ${gw.name} answered ${check.status}: ${await check.text()}`);
    await check.text();
    const level = gw.spec.env['LOG_LEVEL'] ?? LOG_LEVEL;
    const accessLogged = level === 'info' || level === 'debug' || level === 'trace';
    targets.push({ id: gw.spec.id, name: gw.spec.name, copy: gw.copy, pid: gw.pid, url: `${gw.url}${PATH}`, headers, ...(accessLogged ? { accessLog: gw.logFile } : {}) });
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

  // The measured proxy alone on its core, as the issue's set-up has it: every other proxy waits on the
  // helpers' core, so the timers and caches of a dozen idle gateways do not share the measured one's core.
  for (const target of targets) pinProcess(target.pid, layout.helpers);
  const runOne = async (target: Target, connections: number, durationS: number) => {
    if (target.accessLog) emptyLog(target.accessLog);
    pinProcess(target.pid, layout.proxy);
    const cpuBefore = processCpuMs(target.pid);
    const result = await runLoad(GENERATOR, { url: target.url, connections, durationS, headers: target.headers, cores: layout.loadGenerator });
    const cpuMs = processCpuMs(target.pid) - cpuBefore;
    const rssMiB = processRssMiB(target.pid);
    pinProcess(target.pid, layout.helpers);
    if (result.non2xx > 0 || result.errors > 0) {
      throw new Error(`${target.name} at ${connections} connections: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
    }
    return { ...result, cpuMs, rssMiB, ...(target.accessLog ? { accessLog: logLines(target.accessLog) } : {}) };
  };

  log(`warm-up: ${WARMUP_S} s per proxy`);
  for (const target of targets) await runOne(target, Math.max(...CONNECTIONS), WARMUP_S);

  const measurements: Measurement[] = [];
  // One table row per proxy configuration; its processes take turns, round by round.
  const rowTargets = targets.filter((t) => t.copy === 0);
  const baselineRow = rowTargets.find((t) => t.name === BASELINE)!;
  for (let round = 1; round <= ROUNDS; round++) {
    const copy = (round - 1) % PROCESSES;
    // Rotate the order each round so no proxy always runs first or last. adjacent: the baseline before the
    // first row, between every two rows and after the last, so each row's ratio is taken against runs
    // seconds away (see baselineNeighbours in report-table.ts).
    const rotated = rowTargets.map((_, i) => rowTargets[(i + round) % rowTargets.length]!);
    const order = PAIRING === 'adjacent' ? [baselineRow, ...rotated.filter((t) => t !== baselineRow).flatMap((t) => [t, baselineRow])] : rotated;
    for (const connections of CONNECTIONS) {
      for (const row of order) {
        const target = targets.find((t) => t.name === row.name && t.copy === copy)!;
        const m = await runOne(target, connections, DURATION_S);
        measurements.push({ ...m, target: target.name, connections, round, copy, seq: measurements.length });
        const logged = m.accessLog ? `, ${m.accessLog.lines} access lines (${(m.accessLog.lines / m.requests).toFixed(2)}/req)` : '';
        const which = PROCESSES > 1 ? ` [process ${copy + 1}]` : '';
        log(
          `round ${round}/${ROUNDS} c=${connections} ${target.name}${which}: ${Math.round(m.rps)} req/s, p50 ${m.p50} ms, p99 ${m.p99} ms, ` +
            `${cpuUsPerRequest(m).toFixed(0)} µs CPU/req, RSS ${m.rssMiB.toFixed(0)} MiB${logged}`,
        );
      }
    }
  }

  // The access-logged gateways' files hold a whole run of lines: nobody needs them kept.
  for (const target of targets) if (target.accessLog) emptyLog(target.accessLog);

  const order = (name: string) => targets.findIndex((t) => t.name === name);
  const rows = summarise(measurements, BASELINE).sort((x, y) => x.connections - y.connections || order(x.target) - order(y.target));
  const redisVersion = /redis_version:(\S+)/.exec(await small.cli('INFO', 'server'))?.[1];
  const cpuModel = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
  const out = [
    '',
    `Machine: ${layout.cores} cores (${cpuModel}), Node ${process.version}, Redis ${redisVersion}, load average at end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    `Runs: ${ROUNDS} interleaved rounds × ${DURATION_S} s per proxy and connection count, after ${WARMUP_S} s warm-up; ${GENERATOR}; ` +
      `gateway LOG_LEVEL=${LOG_LEVEL} except rows marked ${AT_INFO}; GET ${PATH} (small JSON); ratios against "${BASELINE}" ` +
      (PAIRING === 'adjacent' ? 'run just before and just after each run (the mean of the two)' : 'in the same round'),
    '',
    markdownTable(rows),
    '',
    ...accessLogSummary(measurements, rowTargets),
    ...processSpread(measurements),
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
  return { id: 'tracing', name: TRACED, env: { REDIS_ENABLED: 'true', REDIS_URL: small.url, ...tracing }, redis: small, seed: 9 };
}

/** Rows picked by BENCH_TARGETS without naming them all ("cluster" picks both). */
const CLUSTER_ROWS = [
  { id: 'redis-cluster', name: 'gateway, Redis Cluster (3 masters), 1 session' },
  { id: 'redis-cluster-nocache', name: `gateway, Redis Cluster (3 masters), 1 session, ${NO_CACHE}` },
] as const;

/**
 * What the session cache buys on Redis Cluster, where every proxied request
 * otherwise reads the session from its slot's master. The Cluster (three
 * masters, no replicas) starts only when one of its rows is to run.
 */
async function clusterGatewaySpecs(wanted: readonly string[] | undefined): Promise<GatewaySpec[]> {
  // The same picking rule as rowFilter's (an id picks its row, anything else every row whose name holds it).
  const ids = new Set<string>(CLUSTER_ROWS.map((row) => row.id));
  const picked = (row: Row) => !wanted?.length || wanted.some((w) => (ids.has(w) ? w === row.id : row.name.includes(w)));
  if (!CLUSTER_ROWS.some(picked)) return [];
  const cluster: RedisClusterSetup = await startRedisCluster({ masters: 3 });
  onStop(() => cluster.stop());
  const layout = coreLayout();
  for (const server of cluster.servers) pinProcess(await redisPid(server), layout.helpers);
  const nodes = cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',');
  const on = { REDIS_ENABLED: 'true', REDIS_CLUSTER_NODES: nodes, REDIS_URL: `redis://${cluster.nodes[0]!.host}:${cluster.nodes[0]!.port}` };
  return [
    { ...CLUSTER_ROWS[0], env: { ...on, REDIS_SESSION_CACHE: 'true' }, seed: 0 },
    { ...CLUSTER_ROWS[1], env: { ...on, REDIS_SESSION_CACHE: 'false' }, seed: 0 },
  ].filter(picked);
}

interface GatewaySpec {
  /** What BENCH_TARGETS names to pick this row alone. */
  id: string;
  name: string;
  env: Record<string, string>;
  redis?: RedisServer;
  /** Sessions of other users to seed into that Redis. */
  seed: number;
  main?: string;
  /** Without the container's node flags (gateway-process.ts). */
  v8Defaults?: boolean;
  /** Node flags after the container's (BENCH_VARIANTS; later flags win). */
  nodeArgs?: string[];
}

/** What the local session cache buys: the same Redis, read by every proxied request. */
function uncachedGatewaySpecs(small: RedisServer, large: RedisServer): GatewaySpec[] {
  const off = { REDIS_ENABLED: 'true', REDIS_SESSION_CACHE: 'false' };
  return [
    { id: 'redis-10-nocache', name: `gateway, Redis, 10 sessions, ${NO_CACHE}`, env: { ...off, REDIS_URL: small.url }, redis: small, seed: 9 },
    {
      id: 'redis-large-nocache',
      name: `gateway, Redis, ${LARGE_LABEL} sessions, ${NO_CACHE}`,
      env: { ...off, REDIS_URL: large.url },
      redis: large,
      seed: LARGE_SESSIONS - 1,
    },
  ];
}

interface Row {
  readonly id: string;
  readonly name: string;
}

/**
 * BENCH_TARGETS: an entry equal to a row's id picks that row alone; any other
 * entry picks every row whose name contains it (names hold commas, so a name
 * cannot be given whole). Unset: every row. An entry that picks no row is
 * refused before anything is measured, with the list of rows.
 */
function rowFilter(wanted: readonly string[] | undefined, rows: readonly Row[]): (row: Row) => boolean {
  if (!wanted || wanted.length === 0) return () => true;
  const ids = new Set(rows.map((row) => row.id));
  const picks = (w: string, row: Row) => (ids.has(w) ? w === row.id : row.name.includes(w));
  const unknown = wanted.filter((w) => !rows.some((row) => picks(w, row)));
  if (unknown.length > 0) {
    const list = rows.map((row) => `  ${row.id.padEnd(20)} ${row.name}`).join('\n');
    throw new Error(`BENCH_TARGETS: ${unknown.map((w) => `"${w}"`).join(', ')} picks no row (the baseline always runs). Row ids and names:\n${list}`);
  }
  return (row) => wanted.some((w) => picks(w, row));
}

/**
 * Each row's CPU per request process by process (median over its rounds), at each connection count: the same
 * build in two processes has read several µs apart (where V8 optimised in each), so a row's median mixes them.
 */
function processSpread(measurements: readonly Measurement[]): string[] {
  if (PROCESSES < 2 || ROUNDS < 2) return [];
  const lines = ['CPU µs per request by process (median over its rounds):', ''];
  for (const name of [...new Set(measurements.map((m) => m.target))]) {
    const perCount = CONNECTIONS.map((c) => {
      const byCopy = COPIES.map((copy) => {
        const runs = measurements.filter((m) => m.target === name && m.connections === c && m.copy === copy);
        return runs.length === 0 ? '—' : median(runs.map(cpuUsPerRequest)).toFixed(0);
      });
      return `${c} conns ${byCopy.join(' / ')}`;
    });
    lines.push(`- ${name}: ${perCount.join('; ')}`);
  }
  return [...lines, ''];
}

/** Lines per answered request and bytes per line of each access-logged gateway: proof the lines were written. */
function accessLogSummary(measurements: readonly Measurement[], targets: readonly Target[]): string[] {
  const lines: string[] = [];
  for (const target of targets.filter((t) => t.accessLog)) {
    const runs = measurements.filter((m) => m.target === target.name && m.accessLog);
    const written = runs.reduce((sum, m) => sum + m.accessLog!.lines, 0);
    const bytes = runs.reduce((sum, m) => sum + m.accessLog!.bytes, 0);
    const answered = runs.reduce((sum, m) => sum + m.requests, 0);
    lines.push(
      `Access log of "${target.name}": ${written.toLocaleString('en-US')} lines for ${answered.toLocaleString('en-US')} answered requests ` +
        `(${(written / Math.max(1, answered)).toFixed(3)} per request), ${(bytes / Math.max(1, written)).toFixed(0)} bytes per line, to a regular file`,
    );
  }
  return lines.length > 0 ? [...lines, ''] : [];
}

try {
  await main();
} finally {
  await stopAll();
}

/** A routes file whose /api route checks a role and sends the X-User-* headers. */
function policyRoutesFile(upstreamUrl: string): string {
  return routesFile(upstreamUrl, [ROLE_CHECK, '    userHeaders: [X-User-Sub, X-User-Email, X-User-Roles]']);
}
