/**
 * `npm run bench:instructions`: user-space instructions per proxied request,
 * counted by valgrind's callgrind, for the bench's baseline and the gateway
 * (and other builds of it, side by side). Instruction counts barely move with
 * the machine's load, so an A/B of a small change reads here when the bench's
 * req/s swing by ±20 % from round to round (as on a shared VM). They are not
 * time: the kernel's share (socket writes, epoll) is not counted and a cache
 * miss costs the same as a hit; the bench's ratios stay the measure.
 *
 * Each proxy runs under callgrind with instrumentation off while it starts and
 * warms up (JIT, pools, the session cache), then on for INSTR_REQUESTS
 * requests, INSTR_ROUNDS times.
 *
 * Knobs: INSTR_TARGETS (comma list of bare, gateway or label=/path/to/dist/main.js
 * for another build; default "bare,gateway"), INSTR_REQUESTS (3000), INSTR_WARMUP
 * (10000), INSTR_ROUNDS (5), INSTR_CONCURRENCY (8), INSTR_LOG_LEVEL (warn),
 * INSTR_NODE_ARGS (extra node flags after the container's), INSTR_ENV (space-separated NAME=value
 * settings for the gateways, e.g. "REDIS_SESSION_CACHE=false"), INSTR_ROUTE_POLICY (YAML policy of the
 * gateways' /api route, which then comes from a ROUTES_FILE: "roles: { anyOf: [admin] }" is what a role check
 * costs next to a run without it; the bench's user has the role admin).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopAll } from './child-processes.js';
import { drive, startProfileTarget } from './profile-target.js';
import { median } from './stats.js';

const env = process.env;
const REQUESTS = positiveInteger('INSTR_REQUESTS', 3000);
const WARMUP = positiveInteger('INSTR_WARMUP', 10_000);
const ROUNDS = positiveInteger('INSTR_ROUNDS', 5);
const CONCURRENCY = positiveInteger('INSTR_CONCURRENCY', 8);
const LOG_LEVEL = env['INSTR_LOG_LEVEL'] ?? 'warn';
const NODE_ARGS = env['INSTR_NODE_ARGS']?.split(' ').filter(Boolean) ?? [];
const GATEWAY_ENV = Object.fromEntries(
  (env['INSTR_ENV']?.split(' ').filter(Boolean) ?? []).map((pair) => {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`INSTR_ENV entries are NAME=value, got "${pair}"`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  }),
);
const ROUTE_POLICY = env['INSTR_ROUTE_POLICY'] ? [`    ${env['INSTR_ROUTE_POLICY']}`] : undefined;
const log = (line: string) => process.stderr.write(`${line}\n`);

function positiveInteger(name: string, fallback: number): number {
  const value = Number(env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a whole number above 0, got "${env[name]}"`);
  return value;
}

interface Target {
  label: string;
  kind: 'bare' | 'gateway';
  main?: string;
}

function targets(): Target[] {
  return (env['INSTR_TARGETS'] ?? 'bare,gateway').split(',').map((entry) => {
    const at = entry.indexOf('=');
    const [label, main] = at === -1 ? [entry.trim(), undefined] : [entry.slice(0, at).trim(), entry.slice(at + 1).trim()];
    if (main) return { label, kind: 'gateway', main };
    if (label !== 'bare' && label !== 'gateway') throw new Error(`INSTR_TARGETS entries are bare, gateway or label=/path/to/dist/main.js, got "${entry}"`);
    return { label, kind: label };
  });
}

function callgrindControl(args: string[]): void {
  const run = spawnSync('callgrind_control', args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`callgrind_control ${args.join(' ')}: ${run.stderr || run.stdout}`);
}

/** The instruction total of the newest dump of `pid` in `dir` (callgrind writes one file per dump). */
function newestDumpTotal(dir: string, pid: number, dumpsBefore: number): number {
  const dumps = readdirSync(dir).filter((f) => f.startsWith(`callgrind.${pid}.`));
  if (dumps.length <= dumpsBefore) throw new Error(`no new callgrind dump of ${pid} in ${dir}`);
  const newest = dumps.sort((a, b) => Number(a.split('.').pop()) - Number(b.split('.').pop())).at(-1)!;
  const text = readFileSync(join(dir, newest), 'utf8');
  // `totals:` closes the file; the `summary:` line at its head can read 0 for a dump on request.
  const total = /^totals: (\d+)/m.exec(text)?.[1];
  if (!total) throw new Error(`no totals in ${newest}`);
  return Number(total);
}

async function measure(target: Target, dir: string): Promise<number[]> {
  const launcher = ['valgrind', '--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${dir}/callgrind.%p`];
  log(`${target.label}: starting under callgrind (a minute or two)…`);
  const proxy = await startProfileTarget({ target: target.kind, nodeArgs: NODE_ARGS, logLevel: LOG_LEVEL, launcher, main: target.main, readyTimeoutMs: 600_000, env: GATEWAY_ENV, routePolicy: ROUTE_POLICY });
  await drive(proxy.url, proxy.headers, WARMUP, CONCURRENCY);
  const perRequest: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    callgrindControl(['--zero', String(proxy.pid)]);
    callgrindControl(['--instr=on', String(proxy.pid)]);
    await drive(proxy.url, proxy.headers, REQUESTS, CONCURRENCY);
    callgrindControl(['--instr=off', String(proxy.pid)]);
    callgrindControl(['--dump', String(proxy.pid)]);
    perRequest.push(newestDumpTotal(dir, proxy.pid, round - 1) / REQUESTS);
    log(`${target.label}: round ${round}/${ROUNDS}: ${Math.round(perRequest.at(-1)!)} instructions per request`);
  }
  return perRequest;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-bff-callgrind-'));
  const rows: { target: Target; counts: number[] }[] = [];
  for (const target of targets()) rows.push({ target, counts: await measure(target, dir) });
  const bare = rows.find((r) => r.target.kind === 'bare');
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const out = [
    `User-space instructions per proxied request (callgrind; ${REQUESTS} requests × ${ROUNDS} rounds after ${WARMUP} of warm-up, ${CONCURRENCY} at a time, LOG_LEVEL=${LOG_LEVEL}${NODE_ARGS.length ? `, ${NODE_ARGS.join(' ')}` : ''}${env['INSTR_ENV'] ? `, ${env['INSTR_ENV']}` : ''}${ROUTE_POLICY ? `, /api route policy ${env['INSTR_ROUTE_POLICY']}` : ''})`,
    '',
    `| proxy | instructions/req median (min–max) |${bare ? ' ÷ bare |' : ''}`,
    `|---|---:|${bare ? '---:|' : ''}`,
    ...rows.map(({ target, counts }) => {
      const m = median(counts);
      const ratio = bare ? ` ${(m / median(bare.counts)).toFixed(2)} |` : '';
      return `| ${target.label}${target.main ? ` (${target.main})` : ''} | ${fmt(m)} (${fmt(Math.min(...counts))}–${fmt(Math.max(...counts))}) |${ratio}`;
    }),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

try {
  await main();
} finally {
  await stopAll();
}
