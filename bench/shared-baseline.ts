/**
 * The bench's baseline: the shared bare Node proxy (`bare-node-proxy.mjs`
 * in `../shared/bench/` next to the project: node:http, one undici `Pool`
 * per upstream with `Pool.stream`, one `writeHead`), the fastest plain Node
 * proxy we know. It is copied into bench/ before it runs (git-ignored) so
 * that its `import 'undici'` resolves to this project's undici, the one the
 * gateway uses.
 */
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { findFreePort } from '../test/support/start-redis.js';
import { startChild } from './child-processes.js';
import type { ServerProcess } from './node-server-process.js';

const SHARED = fileURLToPath(new URL('../../shared/bench/bare-node-proxy.mjs', import.meta.url));
const COPY = fileURLToPath(new URL('./.baseline.mjs', import.meta.url));

/** Copies the shared baseline into bench/; throws a clear error when it is not there. */
export function copySharedBaseline(): string {
  if (!existsSync(SHARED)) {
    throw new Error(
      `the bench's baseline is missing: ${SHARED} (bare-node-proxy.mjs in ../shared/bench/ next to the project root). ` +
        'Put it there (it is the reference every ratio is measured against), then run the bench again.',
    );
  }
  rmSync(COPY, { force: true }); // an earlier copy keeps the shared file's read-only mode
  copyFileSync(SHARED, COPY);
  return COPY;
}

/**
 * Starts the copied baseline proxying /api/* to `upstream`, pinned to `cores`, and waits until it answers;
 * under `launcher` when given (valgrind's, bench:instructions), which may take `readyTimeoutMs` to start.
 */
export async function startSharedBaseline(
  upstream: string,
  cores: string | undefined,
  nodeArgs: readonly string[],
  { launcher = [], readyTimeoutMs = 10_000 }: { launcher?: readonly string[]; readyTimeoutMs?: number } = {},
): Promise<ServerProcess> {
  const script = copySharedBaseline();
  const port = await findFreePort();
  const [command, ...launcherArgs] = [...launcher, process.execPath];
  const child = startChild(command!, [...launcherArgs, ...nodeArgs, script], {
    cores,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, PORT: String(port), UPSTREAM: upstream },
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the baseline (${script}) exited ${child.exitCode} at start-up`);
    // Anything outside /api answers 404: it is listening.
    const answered = await fetch(`${url}/`).then(
      async (r) => {
        await r.body?.cancel();
        return true;
      },
      () => false,
    );
    if (answered) break;
    if (Date.now() > deadline) throw new Error(`the baseline (${script}) did not answer on ${url} within ${readyTimeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { pid: child.pid!, url };
}
