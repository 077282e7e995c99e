/**
 * Process plumbing shared by the real-provider harnesses (LemonLDAP::NG,
 * Glewlwyd): find a packaged binary, start a daemon in its own process group
 * with its output in a log file, wait for it to answer, and stop it together
 * with its children (nginx workers, FastCGI workers) by PID. Nothing outlives
 * the test process: every group still running is SIGKILLed on exit.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, openSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) killGroup(child, 'SIGKILL');
});

// PR_SET_PDEATHSIG kills a daemon whose spawning thread died without an 'exit' event (a vitest
// worker killed by a signal). A daemon that changes its user (the LemonLDAP::NG portal) loses it;
// the process-group kill above and in stop() covers those.
const setpriv = findCommand('setpriv');
const pdeathsig = setpriv !== undefined && (spawnSync(setpriv, ['--help'], { encoding: 'utf8' }).stdout?.includes('--pdeathsig') ?? false);

/** Absolute path of `name` in PATH or the sbin directories (where Debian puts daemons), or undefined. */
export function findCommand(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Names of the commands that are not installed (empty when all are). */
export function missingCommands(...names: string[]): string[] {
  return names.filter((name) => findCommand(name) === undefined);
}

export interface Daemon {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The daemon's combined stdout/stderr so far. */
  log(): string;
  /** True while the process has not exited. */
  alive(): boolean;
  /** SIGTERM to its process group, SIGKILL after `graceMs`; resolves once the leader has exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts `command` in a new process group (so that stop() reaches the workers
 * it forks), output appended to `logFile`.
 */
export function startDaemon(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; logFile: string }): Daemon {
  const fd = openSync(options.logFile, 'a');
  const [file, argv] = pdeathsig ? [setpriv!, ['--pdeathsig', 'SIGKILL', '--', command, ...args]] : [command, [...args]];
  const child = spawn(file, argv, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  const pid = child.pid;
  running.add(child);
  const watchdog = startWatchdog(pid);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => running.delete(child));
  let stopping: Promise<void> | undefined;
  return {
    child,
    pid,
    log: () => (existsSync(options.logFile) ? readFileSync(options.logFile, 'utf8') : ''),
    alive: () => child.exitCode === null && child.signalCode === null,
    stop(graceMs = 5_000) {
      stopping ??= (async () => {
        watchdog.kill('SIGKILL');
        if (child.exitCode === null && child.signalCode === null) killGroup(child, 'SIGTERM');
        const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
        // Workers that ignored TERM or outlived their master go too.
        killGroup(child, 'SIGKILL');
      })();
      return stopping;
    },
  };
}

/**
 * A shell that SIGKILLs the daemon's process group once this process is gone, however it died:
 * the workers that outlive a killed leader (nginx's, the FastCGI server's after it changed user)
 * go too. It leaves by itself when the group is gone, and stop() ends it first.
 */
function startWatchdog(groupId: number): ChildProcess {
  // No `--` before the negative id: dash's kill refuses it.
  const script = 'while kill -0 "$1" 2>/dev/null && kill -0 "-$2" 2>/dev/null; do sleep 1; done; kill -0 "$1" 2>/dev/null || kill -KILL "-$2" 2>/dev/null';
  const watchdog = spawn('sh', ['-c', script, 'oidc-bff-test-watchdog', String(process.pid), String(groupId)], { detached: true, stdio: 'ignore' });
  watchdog.unref();
  return watchdog;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is gone already
  }
}

/**
 * Polls `probe` every 100 ms until it returns true; fails early with the
 * daemons' logs when one of them exits, or after `timeoutMs`.
 */
export async function waitUntilAnswering(
  what: string,
  probe: () => Promise<boolean>,
  options: { timeoutMs: number; daemons: readonly Daemon[] },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    const dead = options.daemons.find((d) => !d.alive());
    if (dead) throw new Error(`${what}: pid ${dead.pid} exited at start-up:\n${tail(dead.log())}`);
    if (Date.now() > deadline) {
      throw new Error(`${what} did not answer within ${options.timeoutMs} ms:\n${options.daemons.map((d) => tail(d.log())).join('\n---\n')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function tail(text: string, lines = 25): string {
  return text.split('\n').slice(-lines).join('\n');
}
