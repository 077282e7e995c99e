import type { Logger } from 'pino';
import { isoTime } from './iso-time.js';
import { knownLoggerOutput } from './logger.js';

/** What one access line says about a request (the same fields, names and meaning on either path). */
export interface AccessEntry {
  /** From requestIdFrom, so letters, digits and `._:-` only: written without escaping. */
  requestId: string;
  method: string;
  /** Without the query (/auth/callback carries codes); long paths cut at 512 characters. */
  path: string;
  status: number;
  durationMs: number;
  /** False when the connection closed before the whole answer was sent. */
  completed: boolean;
}

/**
 * The per-request access line (`"msg":"request"`), written at the logger's
 * `info` level. Operators expect one per request, so it must be cheap:
 *
 * - Its fields carry no secret by construction (no headers, no query, a
 *   request id that requestIdFrom made safe), so it skips pino's redaction
 *   walk and child-logger bindings: the line is assembled as text in the
 *   exact shape pino would print (same keys, same order).
 * - Lines are batched, as nginx's `access_log … buffer= flush=` does: one
 *   write to the logger's own destination per FLUSH_MS, or as soon as
 *   BATCH_CHARS are waiting. pino's destination writes asynchronously on
 *   libuv's thread pool, so a write per event-loop turn cost a thread hand-off
 *   for every few requests (docs/benchmarks.md). A line is thus written up to
 *   FLUSH_MS after its request ended; its `time` is when it ended. flush() at
 *   graceful shutdown and a process 'exit' hook write what is left.
 *
 * A logger this module does not know the shape of (a host app's own, or one
 * with a mixin adding trace ids) gets the line through pino as before.
 */
export interface AccessLog {
  /** False below `info`: callers skip timing the request at all. */
  enabled(): boolean;
  record(entry: AccessEntry): void;
  /** Writes the lines still batched now (graceful shutdown). */
  flush(): void;
  /** flush(), and no exit hook any more (the gateway stopped). */
  close(): void;
}

const PATH_LIMIT = 512;
const FLUSH_MS = 100;
const BATCH_CHARS = 32 * 1024;

export function createAccessLog(logger: Logger): AccessLog {
  const output = knownLoggerOutput(logger);
  if (!output) return viaPino(logger);
  const { stream, prefix } = output;
  let pending = '';
  let timer: NodeJS.Timeout | undefined;

  const flush = () => {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (pending === '') return;
    const lines = pending;
    pending = '';
    stream.write(lines);
  };
  const access: AccessLog = {
    enabled: () => logger.isLevelEnabled('info'),
    record(entry) {
      pending +=
        `{"level":"info","time":"${isoTime(Date.now())}",${prefix}"request_id":"${entry.requestId}",` +
        `"method":${jsonString(entry.method)},"path":${jsonString(cutPath(entry.path))},"status":${entry.status},` +
        `"duration_ms":${roundedMs(entry.durationMs)},"completed":${entry.completed},"msg":"request"}\n`;
      if (pending.length >= BATCH_CHARS) flush();
      // Unref'd: a batch waiting never keeps the process alive (the exit hook writes it).
      else timer ??= setTimeout(flush, FLUSH_MS).unref();
    },
    flush,
    close() {
      flush();
      flushAtExit.delete(flush);
    },
  };
  flushAtExit.add(flush);
  return access;
}

function viaPino(logger: Logger): AccessLog {
  return {
    enabled: () => logger.isLevelEnabled('info'),
    record(entry) {
      logger.child({ request_id: entry.requestId }).info(
        { method: entry.method, path: cutPath(entry.path), status: entry.status, duration_ms: roundedMs(entry.durationMs), completed: entry.completed },
        'request',
      );
    },
    flush() {},
    close() {},
  };
}

/** Milliseconds to the microsecond: a clock difference would otherwise print 16 digits nobody reads. */
function roundedMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function cutPath(path: string): string {
  return path.length > PATH_LIMIT ? `${path.slice(0, PATH_LIMIT)}…` : path;
}

/** JSON string literal; plain printable ASCII (nearly every path) is quoted as is. */
function jsonString(value: string): string {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return JSON.stringify(value);
  }
  return `"${value}"`;
}

// One 'exit' hook for every access log in the process (tests start many gateways): lines still batched
// when the process exits (process.exit after shutdown, a crash) are handed to the destination, which
// pino's own exit handling or a synchronous stream writes out.
const flushAtExit = new Set<() => void>();
process.once('exit', () => {
  for (const flush of flushAtExit) flush();
});
