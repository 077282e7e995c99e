/**
 * Three gateway replicas (dist/main.js) as HAProxy sees them. Each replica
 * owns two slots (fixed ports, two server lines in HAProxy) so that a rolling
 * restart can start the new process before the old one stops, as a
 * Deployment does; a killed replica comes back in the slot it died in.
 */
import { createServer, type Server } from 'node:net';
import { findFreePort } from '../../test/support/start-redis.js';
import { startGatewayProcess, type GatewayProcess } from '../gateway-process.js';
import type { HaproxyServer } from './haproxy-config.js';
import type { HaproxyProcess } from './haproxy-process.js';

interface Slot extends HaproxyServer {
  process?: GatewayProcess;
  /** Listeners keeping the idle slot's ports taken. */
  holders?: Server[];
}

/**
 * Keeps an idle slot's ports bound (every connection dropped at once, so
 * HAProxy's check fails and the slot stays out of rotation): on a shared
 * machine another process would otherwise take a port during the minutes
 * before the rolling restart needs it.
 */
async function hold(slot: Slot): Promise<void> {
  if (slot.holders) return;
  const listening = await Promise.allSettled(
    [slot.port, slot.adminPort].map(
      (port) =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer((socket) => socket.destroy());
          server.once('error', reject);
          server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(server));
        }),
    ),
  );
  slot.holders = listening.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = listening.find((r) => r.status === 'rejected');
  if (failed) {
    await release(slot);
    throw failed.reason;
  }
}

async function release(slot: Slot): Promise<void> {
  const holders = slot.holders ?? [];
  slot.holders = undefined;
  await Promise.all(holders.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
}

export interface Replica {
  readonly index: number;
  readonly slots: readonly [Slot, Slot];
  active: 0 | 1;
}

export interface GatewayReplicas {
  /** One server line per slot. */
  readonly servers: readonly HaproxyServer[];
  readonly replicas: readonly Replica[];
  /** Starts every replica in its first slot. */
  startAll(): Promise<void>;
  /** Waits until HAProxy has exactly the running slots in rotation. */
  settle(haproxy: HaproxyProcess, timeoutMs?: number): Promise<void>;
  /** SIGKILL, then the same slot started again; resolves once HAProxy has it back. */
  killAndRestart(index: number, haproxy: HaproxyProcess): Promise<void>;
  /** For each replica: start the new process in its other slot, wait until HAProxy has it, SIGTERM the old one. */
  rollingRestart(haproxy: HaproxyProcess, onStep?: (what: string) => void, afterStop?: (replica: number) => Promise<void>): Promise<void>;
  /** The running process of each replica (pids change on restart). */
  running(): { replica: number; pid: number }[];
  /** Every log file a replica process wrote to (a slot's restarts append to its own). */
  logFiles(): string[];
}

/** `env.PUBLIC_URL` (the load balancer's address) is read at each start, so it can be filled in once HAProxy listens. */
export async function createGatewayReplicas(count: number, env: Record<string, string>, nodeArgs: string[] = []): Promise<GatewayReplicas> {
  const logFiles = new Set<string>();
  const replicas: Replica[] = [];
  for (let index = 0; index < count; index++) {
    const slot = async (letter: string): Promise<Slot> => ({
      name: `gateway${index + 1}${letter}`,
      port: await findFreePort(),
      adminPort: await findFreePort(),
    });
    replicas.push({ index, slots: [await slot('a'), await slot('b')], active: 0 });
  }
  for (const r of replicas) for (const s of r.slots) await hold(s);

  const start = async (slot: Slot) => {
    const publicUrl = env['PUBLIC_URL'];
    if (!publicUrl) throw new Error('PUBLIC_URL must be set before a replica starts');
    await release(slot);
    slot.process = await startGatewayProcess({ name: `soak-${slot.name}`, env, nodeArgs, publicUrl, port: slot.port, adminPort: slot.adminPort, appendLog: true });
    logFiles.add(slot.process.logFile);
  };
  const stop = async (slot: Slot, signal: NodeJS.Signals) => {
    const child = slot.process?.child;
    slot.process = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
    // Taken by someone else meanwhile: the next start in this slot says so.
    await hold(slot).catch(() => undefined);
  };
  const rotation = (): Record<string, 'UP' | 'DOWN'> =>
    Object.fromEntries(replicas.flatMap((r) => r.slots.map((s) => [s.name, s.process ? 'UP' : 'DOWN'] as const)));

  return {
    servers: replicas.flatMap((r) => r.slots.map(({ name, port, adminPort }) => ({ name, port, adminPort }))),
    replicas,
    async startAll() {
      await Promise.all(replicas.map((r) => start(r.slots[r.active])));
    },
    settle: (haproxy, timeoutMs) => haproxy.waitForStates(rotation(), timeoutMs),
    async killAndRestart(index, haproxy) {
      const replica = replicas[index]!;
      const slot = replica.slots[replica.active];
      await stop(slot, 'SIGKILL');
      await start(slot);
      await haproxy.waitForStates({ [slot.name]: 'UP' });
    },
    async rollingRestart(haproxy, onStep, afterStop) {
      for (const replica of replicas) {
        const old = replica.slots[replica.active];
        const next = replica.slots[replica.active === 0 ? 1 : 0];
        onStep?.(`start ${next.name}`);
        await start(next);
        await haproxy.waitForStates({ [next.name]: 'UP' });
        onStep?.(`SIGTERM ${old.name}`);
        await stop(old, 'SIGTERM');
        replica.active = replica.active === 0 ? 1 : 0;
        await afterStop?.(replica.index + 1);
      }
    },
    running: () => replicas.flatMap((r) => (r.slots[r.active].process ? [{ replica: r.index + 1, pid: r.slots[r.active].process!.pid }] : [])),
    logFiles: () => [...logFiles],
  };
}
