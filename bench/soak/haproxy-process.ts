/**
 * Debian's haproxy in the foreground with the generated configuration, and
 * its runtime API (`show stat`) to see which servers are in rotation.
 */
import { closeSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort } from '../../test/support/start-redis.js';
import { startChild } from '../child-processes.js';
import { haproxyConfig, type HaproxyServer } from './haproxy-config.js';

export interface HaproxyProcess {
  readonly url: string;
  readonly pid: number;
  readonly logFile: string;
  /** Server name → HAProxy's status (UP, DOWN, "UP 1/2", MAINT …). */
  serverStates(): Promise<Map<string, string>>;
  /** Resolves once every named server has exactly this status. */
  waitForStates(wanted: Record<string, 'UP' | 'DOWN'>, timeoutMs?: number): Promise<void>;
}

export async function startHaproxy(servers: readonly HaproxyServer[]): Promise<HaproxyProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-bff-soak-haproxy-'));
  const port = await findFreePort();
  const statsSocket = join(dir, 'admin.sock');
  const configFile = join(dir, 'haproxy.cfg');
  writeFileSync(configFile, haproxyConfig({ bindPort: port, servers, statsSocket }));
  const logFile = join(dir, 'haproxy.log');
  const out = openSync(logFile, 'w');
  const child = startChild('haproxy', ['-db', '-f', configFile], { stdio: ['ignore', out, out] });
  closeSync(out);

  const runtime = (command: string) =>
    new Promise<string>((resolve, reject) => {
      let answer = '';
      const socket = connect(statsSocket, () => socket.end(`${command}\n`));
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
      socket.on('end', () => resolve(answer));
      socket.on('error', reject);
    });

  const serverStates = async () => {
    const csv = (await runtime('show stat')).split('\n').filter((l) => l && !l.startsWith('#'));
    const states = new Map<string, string>();
    for (const row of csv) {
      const cols = row.split(',');
      if (cols[0] === 'oidc_bff' && cols[1] !== 'BACKEND') states.set(cols[1]!, cols[17]!);
    }
    return states;
  };

  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited ${child.exitCode} at start-up; see ${logFile}`);
    if (await serverStates().then(() => true, () => false)) break;
    if (Date.now() > deadline) throw new Error(`haproxy did not open its runtime socket; see ${logFile}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    logFile,
    serverStates,
    async waitForStates(wanted, timeoutMs = 60_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const states = await serverStates();
        if (Object.entries(wanted).every(([name, state]) => states.get(name) === state)) return;
        if (Date.now() > until) {
          throw new Error(`haproxy servers not ${JSON.stringify(wanted)} after ${timeoutMs} ms: ${JSON.stringify(Object.fromEntries(states))}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    },
  };
}
