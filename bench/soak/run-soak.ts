/**
 * `npm run soak`: the gateway under production-shaped load while failures are
 * injected one after the other (see docs/reliability.md). `--seed N` and
 * `--storm` run the other two modes. Everything it starts stops on exit, on
 * an error and on Ctrl-C; the exit code is 1 when a must is not met.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stopAll } from '../child-processes.js';
import { runReconnectStorm } from './reconnect-storm.js';
import { runSeeded } from './seeded-run.js';
import { knobs } from './soak-knobs.js';
import { runSoak } from './soak-run.js';

const log = (line: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);

async function main(): Promise<number> {
  if (!existsSync(fileURLToPath(new URL('../../dist/main.js', import.meta.url)))) throw new Error('dist/main.js missing: npm run build first');
  if (knobs.seedSessions > 0) return runSeeded(knobs, log);
  if (knobs.storm) return runReconnectStorm(knobs, log);
  return runSoak(knobs, log);
}

let code = 1;
try {
  code = await main();
} catch (err) {
  log(`soak failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
} finally {
  await stopAll();
}
process.exit(code);
