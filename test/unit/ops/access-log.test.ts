import { execFileSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createAccessLog, type AccessEntry } from '../../../src/ops/access-log.js';
import { createLogger } from '../../../src/ops/logger.js';

function capture() {
  const writes: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      writes.push(String(chunk));
      done();
    },
  });
  return { writes, destination, lines: () => writes.join('').split('\n').filter(Boolean) };
}

const entry: AccessEntry = { requestId: 'req-1', method: 'GET', path: '/api/items/42', status: 200, durationMs: 1.25, completed: true };
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('access log line', () => {
  it('has the shape pino prints for the same fields: same keys in the same order, same values', async () => {
    const fast = capture();
    const access = createAccessLog(createLogger({ level: 'info', destination: fast.destination }));
    const odd = { ...entry, path: `/api/"quoted"\\ünï/${'x'.repeat(600)}`, status: 499, completed: false };
    access.record(entry);
    access.record(odd);
    access.flush();

    // The same logger with a mixin is one access-log.ts does not write itself: pino prints its line.
    const viaPino = capture();
    const reference = createAccessLog(createLogger({ level: 'info', destination: viaPino.destination, mixin: () => ({}) }));
    reference.record(entry);
    reference.record(odd);

    const parsed = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const withoutTime = (lines: string[]) => parsed(lines).map(({ time: _time, ...rest }) => rest);
    expect(parsed(fast.lines()).map(Object.keys)).toEqual(parsed(viaPino.lines()).map(Object.keys));
    expect(withoutTime(fast.lines())).toEqual(withoutTime(viaPino.lines()));
    expect(withoutTime(fast.lines())[0]).toEqual({
      level: 'info', service: 'oidc-bff', request_id: 'req-1', method: 'GET', path: '/api/items/42', status: 200, duration_ms: 1.25, completed: true, msg: 'request',
    });
    expect((parsed(fast.lines())[1]!['path'] as string).length).toBe(513); // cut at 512 characters plus the ellipsis
    expect(parsed(fast.lines())[0]!['time']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('batches lines: requests answered over several turns go out in one write, within 100 ms', async () => {
    const out = capture();
    const access = createAccessLog(createLogger({ level: 'info', destination: out.destination }));
    for (let i = 0; i < 5; i++) {
      access.record({ ...entry, requestId: `req-${i}` });
      await nextTurn();
    }
    expect(out.writes).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(out.writes).toHaveLength(1);
    expect(out.lines().map((l) => (JSON.parse(l) as { request_id: string }).request_id)).toEqual(['req-0', 'req-1', 'req-2', 'req-3', 'req-4']);
    access.close();
  });

  it('writes at once when a batch reaches 32 KiB, so a burst is never held in memory', () => {
    const out = capture();
    const access = createAccessLog(createLogger({ level: 'info', destination: out.destination }));
    // About 200 bytes a line: 32 KiB is reached within 200 lines.
    for (let i = 0; i < 200; i++) access.record({ ...entry, requestId: `req-${i}` });
    expect(out.writes.length).toBeGreaterThanOrEqual(1);
    expect(out.lines().length).toBeGreaterThan(100);
    access.close();
    expect(out.lines()).toHaveLength(200);
  });

  it('writes nothing below info', () => {
    const access = createAccessLog(createLogger({ level: 'warn', destination: capture().destination }));
    expect(access.enabled()).toBe(false);
  });

  it('hands lines still batched to stdout when the process exits right after them', () => {
    const script = [
      "import { createLogger } from './src/ops/logger.ts';",
      "import { createAccessLog } from './src/ops/access-log.ts';",
      "const access = createAccessLog(createLogger({ level: 'info' }));",
      "for (let i = 0; i < 3; i++) access.record({ requestId: 'exit-' + i, method: 'GET', path: '/api/x', status: 200, durationMs: 1, completed: true });",
      'process.exit(0);',
    ].join('\n');
    const stdout = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(stdout.split('\n').filter((l) => l.includes('"msg":"request"'))).toHaveLength(3);
  });
});
