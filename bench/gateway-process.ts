/**
 * The gateway as production runs it: the Dockerfile's CMD (`node <flags> --import ./dist/ops/otel-register.js
 * dist/main.js`) in its own process, configured through the environment, pinned to the proxy core.
 */
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseDockerfile, readRepoFile } from '../test/support/deploy-files.js';
import { findFreePort } from '../test/support/start-redis.js';
import { startChild } from './child-processes.js';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

/**
 * What every bench gateway is set to (bench, soak, profiling tools): production mode against the bench's own
 * provider over plain HTTP, one `/api` route to the bench's upstream.
 */
export function benchGatewayEnv(o: {
  idp: { issuer: string; client: { client_id: string; client_secret?: string | undefined } };
  upstreamUrl: string;
  sessionSecret: string;
  logLevel: string;
}): Record<string, string> {
  return {
    NODE_ENV: 'production',
    OIDC_ALLOW_INSECURE_HTTP: 'true',
    OIDC_ISSUER: o.idp.issuer,
    OIDC_CLIENT_ID: o.idp.client.client_id,
    OIDC_CLIENT_SECRET: o.idp.client.client_secret ?? '',
    SESSION_SECRET: o.sessionSecret,
    LOG_LEVEL: o.logLevel,
    PROXY_ROUTES: `/api=${o.upstreamUrl}`,
  };
}

export interface GatewayProcess {
  readonly name: string;
  readonly pid: number;
  /** PUBLIC_URL = the listener's own address. */
  readonly url: string;
  readonly adminUrl: string;
  readonly logFile: string;
  readonly port: number;
  readonly adminPort: number;
  /** For outages and restarts (the soak). */
  readonly child: ChildProcess;
}

export interface GatewayProcessOptions {
  name: string;
  env: Record<string, string>;
  cores?: string | undefined;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[];
  /** Leave out the container's node flags (containerNodeFlags): V8's defaults, for a side-by-side row. */
  v8Defaults?: boolean;
  /** Another build's dist/main.js (BENCH_COMPARE); default this checkout's. */
  main?: string;
  /** Fixed ports (a replica restarted where the load balancer expects it); default free ones. */
  port?: number;
  adminPort?: number;
  /** PUBLIC_URL when it is not the listener's own address (replicas behind a load balancer). */
  publicUrl?: string;
  /** Append to the log file instead of truncating it (a restarted replica). */
  appendLog?: boolean;
  /** A command the gateway runs under, e.g. valgrind's (bench:instructions); default none. */
  launcher?: readonly string[];
  /** How long start-up may take; default 20 s. */
  readyTimeoutMs?: number;
}

export async function startGatewayProcess(options: GatewayProcessOptions): Promise<GatewayProcess> {
  const port = options.port ?? (await findFreePort());
  const adminPort = options.adminPort ?? (await findFreePort());
  const url = `http://127.0.0.1:${port}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  // A regular file, never /dev/null: at LOG_LEVEL=info the access line's write is part of the cost (a
  // container's stdout ends in a file too). Opened for appending (after emptying it unless appendLog), so
  // the bench can truncate it between runs while the gateway writes.
  const logFile = join(tmpdir(), `oidc-bff-bench-${options.name}-${process.pid}.log`);
  if (!options.appendLog) closeSync(openSync(logFile, 'w'));
  const out = openSync(logFile, 'a');
  const main = options.main ?? MAIN;
  // As the container runs it; a BENCH_COMPARE build from before tracing has no otel-register.
  const register = join(dirname(main), 'ops', 'otel-register.js');
  const preload = existsSync(register) ? ['--import', pathToFileURL(register).href] : [];
  const flags = options.v8Defaults ? [] : containerNodeFlags();
  const [command, ...launcherArgs] = [...(options.launcher ?? []), process.execPath];
  const child = startChild(command!, [...launcherArgs, ...flags, ...(options.nodeArgs ?? []), ...preload, main], {
    cores: options.cores,
    stdio: ['ignore', out, out],
    env: { ...process.env, ...options.env, PORT: String(port), ADMIN_PORT: String(adminPort), PUBLIC_URL: options.publicUrl ?? url },
  });
  closeSync(out);
  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway ${options.name} exited ${child.exitCode} at start-up; see ${logFile}`);
    const ready = await fetch(`${adminUrl}/readyz`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`gateway ${options.name} not ready after ${readyTimeoutMs / 1000} s; see ${logFile}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { name: options.name, pid: child.pid!, url, adminUrl, logFile, port, adminPort, child };
}

let flagsRead: string[] | undefined;

/** The node flags of the Dockerfile's CMD, before its --import: what the container runs the gateway with. Read once. */
export function containerNodeFlags(): string[] {
  if (flagsRead) return flagsRead;
  const cmd = parseDockerfile(readRepoFile('Dockerfile')).filter((i) => i.keyword === 'CMD').at(-1);
  if (!cmd) throw new Error('the Dockerfile has no CMD');
  const argv = JSON.parse(cmd.args) as string[];
  flagsRead = argv.slice(1, argv.indexOf('--import'));
  return flagsRead;
}
