import { spawn, type ChildProcess } from 'node:child_process';
import { TEST_SECRET } from './redis-store-harness.js';
import { findFreePort } from './start-redis.js';
import type { TestIdentityProvider } from './start-identity-provider.js';

export interface GatewayProcess {
  readonly url: string;
  readonly adminUrl: string;
  readonly child: ChildProcess;
  output(): string;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
  /** SIGKILL, as a node crash or an OOM kill would. */
  kill(): Promise<void>;
  /** SIGTERM and wait. */
  stop(): Promise<number | null>;
}

/**
 * The gateway as its own process (src/main.ts through tsx), configured by
 * environment only, as operators run it. Resolves once /readyz answers 200.
 */
export async function spawnGateway(options: {
  idp: TestIdentityProvider;
  publicUrl?: string;
  env?: Record<string, string>;
}): Promise<GatewayProcess> {
  // A free port can be taken between the probe and the child's listen(): pick again then.
  for (let attempt = 1; ; attempt += 1) {
    const started = await spawnOnFreePorts(options);
    if (started !== 'address in use') return started;
    if (attempt >= MAX_PORT_ATTEMPTS) throw new Error(`gateway process: ports in use ${MAX_PORT_ATTEMPTS} times in a row`);
  }
}

const MAX_PORT_ATTEMPTS = 5;

async function spawnOnFreePorts(options: {
  idp: TestIdentityProvider;
  publicUrl?: string;
  env?: Record<string, string>;
}): Promise<GatewayProcess | 'address in use'> {
  const [port, adminPort] = [await findFreePort(), await findFreePort()];
  const url = `http://127.0.0.1:${port}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const publicUrl = options.publicUrl ?? url;
  const client = options.idp.client;
  if (!client.redirect_uris.includes(`${publicUrl}/auth/callback`)) {
    await options.idp.updateClient({ redirect_uris: [...client.redirect_uris, `${publicUrl}/auth/callback`] });
  }
  // As `npm start` runs it: otel-register first (a no-op unless OTEL_EXPORTER_OTLP_ENDPOINT is set).
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', './src/ops/otel-register.ts', 'src/main.ts'], {
    env: {
      PATH: process.env['PATH'] ?? '',
      PORT: String(port),
      ADMIN_PORT: String(adminPort),
      PUBLIC_URL: publicUrl,
      OIDC_ISSUER: options.idp.issuer,
      OIDC_CLIENT_ID: client.client_id,
      ...(client.client_secret ? { OIDC_CLIENT_SECRET: client.client_secret } : {}),
      SESSION_SECRET: TEST_SECRET,
      LOGIN_RATE_LIMIT_PER_MINUTE: '0',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  // "listening" from this child first: another process on the admin port could answer /readyz too. Below info
  // the line is not written; then the child must still be alive after /readyz answered (EADDRINUSE exits at once).
  const level = options.env?.['LOG_LEVEL'] ?? 'info';
  const logsListening = ['info', 'debug', 'trace'].includes(level);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const listening = logsListening ? output.includes('"gateway listening"') : true;
    let ready = listening && (await fetch(`${adminUrl}/readyz`).then((r) => r.status === 200, () => false));
    if (ready && !logsListening) {
      await new Promise((r) => setTimeout(r, 300));
      ready = child.exitCode === null;
    }
    if (ready) break;
    if (child.exitCode !== null && /EADDRINUSE/.test(output)) return 'address in use';
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`gateway process did not become ready:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    adminUrl,
    child,
    exited,
    output: () => output,
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
