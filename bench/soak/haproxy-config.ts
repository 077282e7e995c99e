/**
 * The HAProxy configuration the soak runs: deploy/haproxy/haproxy.cfg as
 * shipped, with only what ties it to Docker replaced (the DNS resolvers and
 * the server-template become fixed loopback server lines, the bind port a free
 * loopback one) and a runtime-API socket added so the soak can see which
 * servers HAProxy has in rotation. Everything else (balance, timeouts,
 * retries, health checks) is exercised as shipped.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const SHIPPED = fileURLToPath(new URL('../../deploy/haproxy/haproxy.cfg', import.meta.url));

export interface HaproxyServer {
  readonly name: string;
  readonly port: number;
  /** The gateway's admin port, where HAProxy checks /readyz. */
  readonly adminPort: number;
}

export interface HaproxyConfigInput {
  readonly bindPort: number;
  readonly servers: readonly HaproxyServer[];
  readonly statsSocket: string;
}

export function haproxyConfig(input: HaproxyConfigInput, shipped = readFileSync(SHIPPED, 'utf8')): string {
  const lines = shipped.split('\n');
  const out: string[] = [];
  let inResolvers = false;
  const seen = { bind: false, template: false, defaultServer: false, global: false };
  for (const line of lines) {
    if (/^resolvers\s/.test(line)) {
      inResolvers = true;
      continue;
    }
    if (inResolvers) {
      if (/^\S/.test(line)) inResolvers = false;
      else continue;
    }
    if (/^global\s*$/.test(line)) {
      seen.global = true;
      out.push(line, `  stats socket ${input.statsSocket} mode 600 level admin`);
      continue;
    }
    if (/^\s+bind\s/.test(line)) {
      seen.bind = true;
      out.push(`  bind 127.0.0.1:${input.bindPort}`);
      continue;
    }
    if (/^\s+default-server\s/.test(line)) {
      seen.defaultServer = true;
      // Docker DNS only: the servers below have fixed loopback addresses.
      out.push(line.replace(/\s+resolvers\s+\S+/, '').replace(/\s+init-addr\s+\S+/, ''));
      continue;
    }
    if (/^\s+server-template\s/.test(line)) {
      seen.template = true;
      // Each replica's admin port differs on one host: `port` overrides the default-server's.
      for (const s of input.servers) out.push(`  server ${s.name} 127.0.0.1:${s.port} port ${s.adminPort}`);
      continue;
    }
    out.push(line);
  }
  const missing = Object.entries(seen).filter(([, found]) => !found).map(([what]) => what);
  if (missing.length) throw new Error(`deploy/haproxy/haproxy.cfg changed shape: no ${missing.join(', ')} line to adapt`);
  return `${out.join('\n')}\n`;
}
