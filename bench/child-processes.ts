/**
 * Every process the bench starts, in one registry: each one dies with the
 * bench (setpriv --pdeathsig), and all are stopped on exit, on an error and
 * on Ctrl-C. Processes can be pinned to cores with taskset.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { availableParallelism } from 'node:os';

const running = new Set<ChildProcess>();
const cleanups: (() => Promise<void>)[] = [];

const hasPdeathsig = spawnSync('setpriv', ['--help'], { encoding: 'utf8' }).stdout?.includes('--pdeathsig') ?? false;
const hasTaskset = spawnSync('taskset', ['--version'], { encoding: 'utf8' }).status === 0;

/**
 * Which cores do what. With two or more cores the proxy under test gets a
 * core of its own and the load generator another; the upstream and Redis
 * share the load generator's core on a 2-core machine (they are cheap per
 * request), or get the rest on a bigger one.
 */
export interface CoreLayout {
  readonly cores: number;
  /** taskset core lists, undefined = unpinned. */
  readonly proxy?: string;
  readonly loadGenerator?: string;
  readonly helpers?: string;
}

export function coreLayout(): CoreLayout {
  const cores = availableParallelism();
  if (cores < 2 || !hasTaskset) return { cores };
  if (cores === 2) return { cores, loadGenerator: '0', proxy: '1', helpers: '0' };
  if (cores === 3) return { cores, loadGenerator: '0', proxy: '1', helpers: '2' };
  return { cores, loadGenerator: '0', proxy: '1', helpers: `2-${cores - 1}` };
}

/** Starts `command` (pinned to `cores` when given); it is killed when the bench ends. */
export function startChild(command: string, args: readonly string[], options: SpawnOptions & { cores?: string | undefined }): ChildProcess {
  const { cores, ...spawnOptions } = options;
  const pinned = cores === undefined ? [command, ...args] : ['taskset', '-c', cores, command, ...args];
  const argv = hasPdeathsig ? ['setpriv', '--pdeathsig', 'SIGKILL', '--', ...pinned] : pinned;
  // setpriv and taskset exec the command: the pid we get is the command's own.
  const child = spawn(argv[0]!, argv.slice(1), spawnOptions);
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Pins every thread of an already running process (redis-server started by test support). */
export function pinProcess(pid: number, cores: string | undefined): void {
  if (cores === undefined) return;
  spawnSync('taskset', ['-a', '-p', '-c', cores, String(pid)], { stdio: 'ignore' });
}

/** Registers an async cleanup (stop Redis, close the provider) run by stopAll, newest first. */
export function onStop(cleanup: () => Promise<void>): void {
  cleanups.push(cleanup);
}

/** SIGTERM every child (SIGKILL after 3 s), then run the cleanups. Idempotent. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((child) => terminate(child)));
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`\n${signal}: stopping everything the bench started\n`);
    void stopAll().finally(() => process.exit(130));
  });
}
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});
