import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * Paths pino blanks wherever they appear in a log object: the gateway never
 * logs a token, cookie or secret, and this is the net under that promise.
 */
const REDACTED_PATHS = [
  'access_token', 'refresh_token', 'id_token', 'logout_token', 'tokens', 'password', 'client_secret',
  '*.access_token', '*.refresh_token', '*.id_token', '*.logout_token', '*.tokens', '*.password', '*.client_secret',
  'headers.cookie', 'headers.authorization', 'headers["set-cookie"]',
  '*.headers.cookie', '*.headers.authorization', '*.headers["set-cookie"]',
];

/**
 * JSON logs to stdout (or `destination`, for tests that read what was logged).
 * `mixin` adds fields to every line (trace_id and span_id when tracing is on;
 * absent otherwise, so lines cost nothing extra).
 */
export function createLogger(options: { level: string; destination?: DestinationStream; mixin?: () => object }): Logger {
  const logger = pino(
    {
      level: options.level,
      ...(options.mixin ? { mixin: options.mixin } : {}),
      base: { service: 'oidc-bff' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination,
  );
  // A line of ours may be written without pino (access-log.ts) only where nothing is added per line.
  if (!options.mixin) knownOutputs.set(logger, { stream: (logger as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym]!, prefix: `"service":"oidc-bff",` });
  return logger;
}

/** Where a logger made by createLogger writes, and the JSON text of its base fields (with a trailing comma). */
export interface LoggerOutput {
  readonly stream: DestinationStream;
  readonly prefix: string;
}

const knownOutputs = new WeakMap<Logger, LoggerOutput>();

/** The output of a logger made by createLogger without a mixin; undefined for any other logger. */
export function knownLoggerOutput(logger: Logger): LoggerOutput | undefined {
  return knownOutputs.get(logger);
}

export type { Logger };
