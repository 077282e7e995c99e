/**
 * Runs the load generator as its own process (pinned away from the proxy
 * under test) and returns what it measured: wrk when it is installed (C, one
 * thread, microsecond latencies), autocannon otherwise (a devDependency;
 * latencies in whole milliseconds). BENCH_LOAD_GENERATOR=wrk|autocannon
 * forces one. Every answer must be a 2xx: a 401 in the middle of a run means
 * the session was lost, and the caller refuses the run.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChild } from './child-processes.js';

const autocannonBin = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

export interface LoadResult {
  readonly requests: number;
  readonly durationS: number;
  readonly rps: number;
  /** Milliseconds. */
  readonly p50: number;
  readonly p99: number;
  readonly non2xx: number;
  readonly errors: number;
}

export interface LoadOptions {
  url: string;
  connections: number;
  durationS: number;
  headers?: Record<string, string>;
  cores?: string | undefined;
}

interface AutocannonJson {
  requests: { total: number };
  latency: { p50: number; p99: number };
  duration: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  '2xx': number;
}

export type LoadGenerator = 'wrk' | 'autocannon';

export function chooseLoadGenerator(forced: string | undefined): LoadGenerator {
  if (forced === 'wrk' || forced === 'autocannon') return forced;
  return spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error ? 'autocannon' : 'wrk';
}

export function runLoad(generator: LoadGenerator, options: LoadOptions): Promise<LoadResult> {
  return generator === 'wrk' ? runWrk(options) : runAutocannon(options);
}

async function runProcess(command: string, args: string[], cores: string | undefined): Promise<string> {
  const child = startChild(command, args, { cores, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`${command} exited ${code}: ${stderr.slice(-500)}`);
  return stdout;
}

// wrk's done() hook prints the numbers as JSON, latencies in microseconds.
const WRK_REPORT = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"non2xx":%d,"errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
`;

async function runWrk(options: LoadOptions): Promise<LoadResult> {
  const script = join(tmpdir(), 'oidc-bff-bench-wrk-report.lua');
  writeFileSync(script, WRK_REPORT);
  const headerArgs = Object.entries(options.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const args = ['-t1', `-c${options.connections}`, `-d${options.durationS}s`, '--timeout', '10s', '-s', script, ...headerArgs, options.url];
  const stdout = await runProcess('wrk', args, options.cores);
  const json = JSON.parse(stdout.slice(stdout.lastIndexOf('{"requests"'))) as {
    requests: number; duration_us: number; p50_us: number; p99_us: number; non2xx: number; errors: number;
  };
  const durationS = json.duration_us / 1e6;
  return {
    requests: json.requests - json.non2xx,
    durationS,
    rps: (json.requests - json.non2xx) / durationS,
    p50: json.p50_us / 1000,
    p99: json.p99_us / 1000,
    non2xx: json.non2xx,
    errors: json.errors,
  };
}

async function runAutocannon(options: LoadOptions): Promise<LoadResult> {
  const headerArgs = Object.entries(options.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}=${v}`]);
  const args = [
    autocannonBin, '--json', '--no-progress', '-c', String(options.connections), '-d', String(options.durationS), ...headerArgs, options.url,
  ];
  const stdout = await runProcess(process.execPath, args, options.cores);
  const json = JSON.parse(stdout.slice(stdout.indexOf('{'))) as AutocannonJson;
  const requests = json['2xx'];
  return {
    requests,
    durationS: json.duration,
    rps: requests / json.duration,
    p50: json.latency.p50,
    p99: json.latency.p99,
    non2xx: json.non2xx,
    errors: json.errors + json.timeouts,
  };
}
