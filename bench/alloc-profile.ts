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
import { WebSocket } from 'ws';
import { findFreePort } from '../test/support/start-redis.js';
import { stopAll } from './child-processes.js';
import { drive, startProfileTarget } from './profile-target.js';

const env = process.env;
const REQUESTS = Number(env['ALLOC_REQUESTS'] ?? 20_000);
const TARGET = (env['ALLOC_TARGET'] ?? 'gateway') as 'gateway' | 'bare';
if (TARGET !== 'gateway' && TARGET !== 'bare') throw new Error(`ALLOC_TARGET must be gateway or bare, got "${TARGET}"`);
const KEPT = env['ALLOC_KEPT'] ?? 'all';
if (KEPT !== 'all' && KEPT !== 'promoted') throw new Error(`ALLOC_KEPT must be all or promoted, got "${KEPT}"`);
const CONCURRENCY = Number(env['ALLOC_CONCURRENCY'] ?? 8);
const NODE_ARGS = env['ALLOC_NODE_ARGS']?.split(' ').filter(Boolean) ?? [];
const TOP = Number(env['ALLOC_TOP'] ?? 30);
const SAMPLING_BYTES = Number(env['ALLOC_SAMPLING_BYTES'] ?? 1024);
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

async function main(): Promise<void> {
  const inspectPort = await findFreePort();
  const { url, headers } = await startProfileTarget({
    target: TARGET,
    nodeArgs: [...NODE_ARGS, `--inspect=127.0.0.1:${inspectPort}`],
    logLevel: env['ALLOC_LOG_LEVEL'] ?? 'warn',
  });
  await drive(url, headers, 5000, CONCURRENCY); // warm-up: JIT, pools, the session cache
  const session = await inspector(inspectPort);
  await session.call('HeapProfiler.enable');
  await session.call('HeapProfiler.collectGarbage');
  await session.call('HeapProfiler.startSampling', {
    samplingInterval: SAMPLING_BYTES,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: KEPT === 'all',
  });
  await drive(url, headers, REQUESTS, CONCURRENCY);
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
