#!/usr/bin/env node
import { ConfigError, loadConfig } from './config/load-config.js';
import { startGateway } from './gateway.js';
import { createLogger } from './ops/logger.js';
import { activeTracing } from './ops/tracing.js';

/** The only place that reads process.env, listens on all interfaces and handles signals. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const problem of err.problems) process.stderr.write(`config error: ${problem}\n`);
      process.exit(2);
    }
    throw err;
  }
  // Started (or not) by otel-register.ts, loaded with --import before this module.
  const tracing = activeTracing();
  const logger = createLogger({ level: config.logLevel, ...(tracing ? { mixin: tracing.logFields } : {}) });
  for (const warning of config.warnings) logger.warn({}, warning);

  const gateway = await startGateway(config, { logger, host: '::', ...(tracing ? { tracing } : {}) });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, delay_ms: config.shutdownDelayMs, timeout_ms: config.shutdownTimeoutMs }, 'shutting down');
    gateway.close().then(() => tracing?.shutdown()).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err: (err as Error).message }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('unhandledRejection', (reason) => {
    // Logged, not fatal: one bad promise must not log every user out of this replica.
    logger.error({ err: (reason as Error)?.message ?? String(reason) }, 'unhandled rejection');
  });
}

await main();
