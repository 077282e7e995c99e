/**
 * `npm run demo` as a child process on free loopback ports, the way a
 * developer starts it (`node --import tsx src/demo.ts`), for tests that drive
 * it from outside: a real browser, say.
 *
 *   const demo = await startDemo();
 *   // demo.url = http://localhost:<port>, demo.idpUrl = http://127.0.0.1:<port>
 *   await demo.stop();
 */
import { spawn } from 'node:child_process';
import { findFreePort } from './start-redis.js';

export interface RunningDemo {
  /** The gateway's PUBLIC_URL: `http://localhost:<PORT>`. */
  url: string;
  /** The embedded provider's origin: `http://127.0.0.1:<DEMO_IDP_PORT>`. */
  idpUrl: string;
  /** Everything the demo wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

// Generous: "it started", not "it started fast". tsx compiles the demo on the fly, which took over 30 s
// on a 2-core machine running a CPU hog beside the full suite.
export const DEMO_START_TIMEOUT_MS = 120_000;
const READY_LINE = 'Ctrl-C'; // the last line of the demo's banner, printed once everything listens

export async function startDemo(): Promise<RunningDemo> {
  // A free port can be taken between the probe and the demo's listen(): pick again then.
  for (let attempt = 1; ; attempt += 1) {
    const started = await startOnFreePorts();
    if (started !== 'address in use') return started;
    if (attempt >= 5) throw new Error('demo: ports in use 5 times in a row');
  }
}

async function startOnFreePorts(): Promise<RunningDemo | 'address in use'> {
  const [port, admin, idp, api] = [await findFreePort(), await findFreePort(), await findFreePort(), await findFreePort()];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/demo.ts'], {
    env: { PATH: process.env['PATH'] ?? '', PORT: String(port), ADMIN_PORT: String(admin), DEMO_IDP_PORT: String(idp), DEMO_API_PORT: String(api) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async (graceMs = 10_000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(killer);
  };

  const deadline = Date.now() + DEMO_START_TIMEOUT_MS;
  while (!output.includes(READY_LINE)) {
    if (child.exitCode !== null && /EADDRINUSE/.test(output)) return 'address in use';
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop(1_000);
      throw new Error(`demo did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: `http://localhost:${port}`, idpUrl: `http://127.0.0.1:${idp}`, output: () => output, stop };
}
