import type { Tracing } from './tracing-api.js';

let active: Tracing | undefined;

/** The running tracing, or undefined when it is off (the usual case). */
export function activeTracing(): Tracing | undefined {
  return active;
}

/**
 * Tracing follows the standard OpenTelemetry variables only: on when an OTLP
 * endpoint is given, unless OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none.
 */
export function tracingWanted(env: NodeJS.ProcessEnv): boolean {
  if (env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true') return false;
  if (env['OTEL_TRACES_EXPORTER']?.trim().toLowerCase() === 'none') return false;
  return Boolean(env['OTEL_EXPORTER_OTLP_ENDPOINT']?.trim() || env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']?.trim());
}

/**
 * Starts the SDK when wanted. Must run before the gateway's modules load (see
 * otel-register.ts), since the instrumentations patch modules as they load.
 */
export async function startTracing(env: NodeJS.ProcessEnv): Promise<Tracing | undefined> {
  if (active || !tracingWanted(env)) return active;
  const { startTracingSdk } = await import('./tracing-sdk.js');
  active = await startTracingSdk(env);
  return active;
}
