import { readFileSync } from 'node:fs';

/** Resident set size of a process now, in MiB, from /proc/<pid>/status (VmRSS). */
export function processRssMiB(pid: number): number {
  const kib = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return kib === undefined ? Number.NaN : Number(kib) / 1024;
}
