import { startTracing } from './tracing.js';

/**
 * Loaded with `node --import` before the gateway (npm start, the container):
 * instrumentations must be in place before the modules they patch load. Does
 * nothing, and loads no OpenTelemetry module, unless an OTLP endpoint is set.
 */
await startTracing(process.env);
