/**
 * RSS and open file descriptors of each gateway replica, sampled from /proc
 * every few seconds; a restarted replica is a new pid, judged on its own.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { processCpuMs } from '../process-cpu.js';

export interface ProcessSample {
  readonly t: number;
  readonly replica: number;
  readonly pid: number;
  readonly rssKb: number;
  readonly fds: number;
  /** CPU time used so far (user + system). */
  readonly cpuMs: number;
}

export interface ProcessSampler {
  readonly samples: ProcessSample[];
  /** First sample time of each pid (its start, near enough). */
  readonly firstSeen: Map<number, number>;
  stop(): void;
}

function sample(pid: number): { rssKb: number; fds: number; cpuMs: number } | undefined {
  try {
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return { rssKb, fds: readdirSync(`/proc/${pid}/fd`).length, cpuMs: processCpuMs(pid) };
  } catch {
    return undefined; // exited between listing and reading
  }
}

export function sampleProcesses(running: () => { replica: number; pid: number }[], startedAt: number, everyMs: number): ProcessSampler {
  const samples: ProcessSample[] = [];
  const firstSeen = new Map<number, number>();
  const tick = () => {
    const t = (Date.now() - startedAt) / 1000;
    for (const { replica, pid } of running()) {
      const s = sample(pid);
      if (!s) continue;
      if (!firstSeen.has(pid)) firstSeen.set(pid, t);
      samples.push({ t, replica, pid, ...s });
    }
  };
  tick();
  const timer = setInterval(tick, everyMs);
  return { samples, firstSeen, stop: () => clearInterval(timer) };
}
