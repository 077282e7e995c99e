/**
 * `npm run bench:alloc`: the bytes the gateway allocates per proxied request,
 * by allocation site. Garbage is what the young generation has to scavenge
 * and what survives into the old one, so it drives GC CPU and RSS (see
 * docs/benchmarks.md); this says where it comes from. One gateway (Redis, 10
 * sessions, cache on, as the bench's main row), V8's sampling heap profiler
 * over the inspector with collected objects included, a fixed number of
 * requests. Byte counts do not depend on the machine's load, so unlike the
 * bench this can run beside other work.
 *
 * ALLOC_KEPT=promoted keeps only what outlived the young generation (objects a
 * scavenge collected are dropped from the profile): what is promoted, the old
 * generation's garbage and so its mark-compacts and RSS.
 *
 * Knobs: ALLOC_TARGET (gateway | bare: the bench's baseline proxy, for
 * comparison), ALLOC_KEPT (all | promoted), ALLOC_REQUESTS (20000),
 * ALLOC_CONCURRENCY (8), ALLOC_LOG_LEVEL (warn), ALLOC_NODE_ARGS (extra node
 * flags, after the container's), ALLOC_TOP (30), ALLOC_SAMPLING_BYTES (1024).
 */
import { loginThroughProvider } from '../test/support/browser-login.js';
import { startIdentityProvider } from '../test/support/start-identity-provider.js';
import { findFreePort, startRedis } from '../test/support/start-redis.js';
import { WebSocket } from 'ws';
import { onStop, stopAll } from './child-processes.js';
import { startGatewayProcess } from './gateway-process.js';
import { startServerProcess } from './node-server-process.js';
import { copySharedBaseline, startSharedBaseline } from './shared-baseline.js';

const env = process.env;
const REQUESTS = Number(env['ALLOC_REQUESTS'] ?? 20_000);
const TARGET = env['ALLOC_TARGET'] ?? 'gateway';
if (TARGET !== 'gateway' && TARGET !== 'bare') throw new Error(`ALLOC_TARGET must be gateway or bare, got "${TARGET}"`);
const KEPT = env['ALLOC_KEPT'] ?? 'all';
if (KEPT !== 'all' && KEPT !== 'promoted') throw new Error(`ALLOC_KEPT must be all or promoted, got "${KEPT}"`);
const CONCURRENCY = Number(env['ALLOC_CONCURRENCY'] ?? 8);
const NODE_ARGS = env['ALLOC_NODE_ARGS']?.split(' ').filter(Boolean) ?? [];
const TOP = Number(env['ALLOC_TOP'] ?? 30);
const SAMPLING_BYTES = Number(env['ALLOC_SAMPLING_BYTES'] ?? 1024);
const PATH = '/api/items/42';
const log = (line: string) => process.stderr.write(`${line}\n`);

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

/** A Chrome DevTools Protocol session over the inspector's WebSocket: one call at a time is all this needs. */
async function inspector(port: number): Promise<{ call: (method: string, params?: object) => Promise<unknown>; close: () => void }> {
  const [target] = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const ws = new WebSocket(target!.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let id = 0;
  const call = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const mine = ++id;
      const onMessage = (data: Buffer) => {
        const msg = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string } };
        if (msg.id !== mine) return;
        ws.off('message', onMessage);
        if (msg.error) reject(new Error(`${method}: ${msg.error.message}`));
        else resolve(msg.result);
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id: mine, method, params }));
    });
  return { call, close: () => ws.close() };
}

async function drive(url: string, headers: Record<string, string>, count: number, concurrency = CONCURRENCY): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next++ < count) {
      const res = await fetch(url, { headers });
      if (res.status !== 200) throw new Error(`proxied request answered ${res.status}`);
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** Self bytes by allocation site ("function file:line"), and by file. */
function bySite(head: ProfileNode): { sites: Map<string, number>; files: Map<string, number>; total: number } {
  const sites = new Map<string, number>();
  const files = new Map<string, number>();
  let total = 0;
  const visit = (node: ProfileNode) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '').replace(/^.*\/dist\//, 'dist/') || '(native)';
    const site = `${functionName || '(anonymous)'} ${file}${url ? `:${lineNumber + 1}` : ''}`;
    if (node.selfSize > 0) {
      sites.set(site, (sites.get(site) ?? 0) + node.selfSize);
      files.set(file, (files.get(file) ?? 0) + node.selfSize);
      total += node.selfSize;
    }
    node.children.forEach(visit);
  };
  visit(head);
  return { sites, files, total };
}

/** The proxy under the profiler, listening with its inspector on `inspectPort`: the URL to load and the headers to send. */
async function startTarget(inspectPort: number): Promise<{ url: string; headers: Record<string, string> }> {
  const upstream = await startServerProcess('./json-upstream.ts', {}, undefined);
  const inspect = [...NODE_ARGS, `--inspect=127.0.0.1:${inspectPort}`];
  if (TARGET === 'bare') {
    copySharedBaseline();
    const bare = await startSharedBaseline(upstream.url, undefined, inspect);
    return { url: `${bare.url}${PATH}`, headers: {} };
  }
  const idp = await startIdentityProvider({ accessTokenTtlSeconds: 7200, idTokenTtlSeconds: 7200, refreshTokenTtlSeconds: 7200 });
  onStop(() => idp.close());
  const redis = await startRedis();
  onStop(() => redis.stop());
  const gw = await startGatewayProcess({
    name: 'alloc-profile',
    nodeArgs: inspect,
    env: {
      NODE_ENV: 'production',
      OIDC_ALLOW_INSECURE_HTTP: 'true',
      OIDC_ISSUER: idp.issuer,
      OIDC_CLIENT_ID: idp.client.client_id,
      OIDC_CLIENT_SECRET: idp.client.client_secret ?? '',
      SESSION_SECRET: 'bench-session-secret-0123456789abcdef-xyz',
      LOG_LEVEL: env['ALLOC_LOG_LEVEL'] ?? 'warn',
      PROXY_ROUTES: `/api=${upstream.url}`,
      REDIS_ENABLED: 'true',
      REDIS_URL: redis.url,
    },
  });
  await idp.updateClient({ redirect_uris: [`${gw.url}/auth/callback`] });
  const { browser, finalResponse } = await loginThroughProvider(`${gw.url}/auth/login`, { username: 'admin', password: 'test' });
  if (finalResponse.status !== 302) throw new Error(`login answered ${finalResponse.status}`);
  return { url: `${gw.url}${PATH}`, headers: { cookie: `bff_session=${browser.jar.get(gw.url, 'bff_session')!.value}`, 'x-csrf': '1' } };
}

async function main(): Promise<void> {
  const inspectPort = await findFreePort();
  const { url, headers } = await startTarget(inspectPort);
  await drive(url, headers, 5000); // warm-up: JIT, pools, the session cache
  const session = await inspector(inspectPort);
  await session.call('HeapProfiler.enable');
  await session.call('HeapProfiler.collectGarbage');
  await session.call('HeapProfiler.startSampling', {
    samplingInterval: SAMPLING_BYTES,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: KEPT === 'all',
  });
  await drive(url, headers, REQUESTS);
  const { profile } = (await session.call('HeapProfiler.stopSampling')) as { profile: { head: ProfileNode } };
  session.close();

  const { sites, files, total } = bySite(profile.head);
  const perRequest = (bytes: number) => (bytes / REQUESTS).toFixed(0);
  const top = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
  const what = KEPT === 'all' ? 'allocated' : 'promoted (outlived the young generation)';
  const out = [
    `${TARGET === 'bare' ? 'The bare proxy' : 'The gateway'} ${what} per proxied request (sampled every ${SAMPLING_BYTES} bytes, ${REQUESTS} requests, ${CONCURRENCY} at a time, LOG_LEVEL=${env['ALLOC_LOG_LEVEL'] ?? 'warn'}${NODE_ARGS.length ? `, ${NODE_ARGS.join(' ')}` : ''}): ${perRequest(total)} bytes`,
    '',
    '| bytes/req | share | allocation site |',
    '|---:|---:|---|',
    ...top(sites, TOP).map(([site, b]) => `| ${perRequest(b)} | ${((b / total) * 100).toFixed(1)} % | \`${site}\` |`),
    '',
    '| bytes/req | share | file |',
    '|---:|---:|---|',
    ...top(files, 15).map(([file, b]) => `| ${perRequest(b)} | ${((b / total) * 100).toFixed(1)} % | \`${file}\` |`),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

try {
  await main();
} finally {
  await stopAll();
}
