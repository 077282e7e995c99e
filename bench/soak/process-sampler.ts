/**
 * RSS and open file descriptors of each gateway replica, sampled from /proc
 * every few seconds; a restarted replica is a new pid, judged on its own.
 * Of the fds, those that are established TCP connections are counted apart:
 * they follow the load (WebSockets moving between replicas at each restart,
 * HAProxy's pool), while the rest (files, pipes, listeners, sockets left in
 * CLOSE_WAIT by a missing close) only grow when something leaks.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { processCpuMs } from '../process-cpu.js';

export interface ProcessSample {
  readonly t: number;
  readonly replica: number;
  readonly pid: number;
  readonly rssKb: number;
  readonly fds: number;
  /** Of those, established TCP connections. */
  readonly connections: number;
  /** CPU time used so far (user + system). */
  readonly cpuMs: number;
}

export interface ProcessSampler {
  readonly samples: ProcessSample[];
  /** First sample time of each pid (its start, for a replica started during the load). */
  readonly firstSeen: Map<number, number>;
  /** When each pid started, on the same clock (before the sampling for the replicas started before the load). */
  readonly startedAt: Map<number, number>;
  stop(): void;
}

/** Socket inodes of every established TCP connection on the host (IPv4 and IPv6). */
function establishedInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '01') inodes.add(cols[9]!); // st 01 = ESTABLISHED; column 9 = inode
    }
  }
  return inodes;
}

function sample(pid: number, established: Set<string>): { rssKb: number; fds: number; connections: number; cpuMs: number } | undefined {
  try {
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    const fds = readdirSync(`/proc/${pid}/fd`);
    let connections = 0;
    for (const fd of fds) {
      const target = (() => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          return ''; // closed meanwhile
        }
      })();
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode && established.has(inode)) connections++;
    }
    return { rssKb, fds: fds.length, connections, cpuMs: processCpuMs(pid) };
  } catch {
    return undefined; // exited between listing and reading
  }
}

/** Seconds since the process started (/proc/<pid>/stat's starttime, in clock ticks since boot, against /proc/uptime). */
function ageS(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // the command name may hold spaces
  const startTicks = Number(fields[19]); // field 22 of the line; fields[0] is field 3
  const uptimeS = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return uptimeS - startTicks / CLOCK_TICKS;
}
// sysconf(_SC_CLK_TCK): 100 on every Linux architecture Node runs on.
const CLOCK_TICKS = 100;

export function sampleProcesses(running: () => { replica: number; pid: number }[], startedAt: number, everyMs: number): ProcessSampler {
  const samples: ProcessSample[] = [];
  const firstSeen = new Map<number, number>();
  const started = new Map<number, number>();
  const tick = () => {
    const t = (Date.now() - startedAt) / 1000;
    const established = establishedInodes();
    for (const { replica, pid } of running()) {
      const s = sample(pid, established);
      if (!s) continue;
      if (!firstSeen.has(pid)) {
        firstSeen.set(pid, t);
        try {
          started.set(pid, t - ageS(pid));
        } catch {
          started.set(pid, t); // exited meanwhile
        }
      }
      samples.push({ t, replica, pid, ...s });
    }
  };
  tick();
  const timer = setInterval(tick, everyMs);
  return { samples, firstSeen, startedAt: started, stop: () => clearInterval(timer) };
}
