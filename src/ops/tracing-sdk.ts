import { register } from 'node:module';
import type { IncomingMessage } from 'node:http';
import { createAddHookMessageChannel } from 'import-in-the-middle';
import type { Tracing } from './tracing.js';

// Probes and scrapes of the admin port, many a minute: no trace is worth having for them.
const UNTRACED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
// The gateway's own routes, named in full; anything else is named by its PROXY_ROUTES prefix or not at all
// (a path of its own per span name would flood a trace store's index).
const GATEWAY_ROUTES = new Set([
  '/auth/login', '/auth/callback', '/auth/logout', '/auth/backchannel-logout', '/auth/me', '/auth/settings',
]);
const PROPAGATION_HEADERS = new Set(['traceparent', 'tracestate']);
// At most this long for the last spans at SIGTERM, on top of the gateway's own drain.
const SHUTDOWN_FLUSH_MS = 2_000;

/**
 * Loaded only when tracing is on. The gateway is ESM: patch-based
 * instrumentations (http, ioredis) see modules only through a module hook
 * (import-in-the-middle), registered here before the gateway's modules load;
 * the message channel limits that hook to the modules instrumented, so every
 * other module loads untouched. undici's instrumentation needs no hook: it
 * listens on diagnostics_channel, which both the bundled fetch (the provider
 * calls) and the undici package (the upstream calls) publish to.
 */
export async function startTracingSdk(env: NodeJS.ProcessEnv): Promise<Tracing> {
  const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
  register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);

  const [api, { W3CTraceContextPropagator }, { NodeTracerProvider, BatchSpanProcessor }, resources, { registerInstrumentations }, http, undici, ioredis, { createTraceSpans }] =
    await Promise.all([
      import('@opentelemetry/api'),
      import('@opentelemetry/core'),
      import('@opentelemetry/sdk-trace-node'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/instrumentation'),
      import('@opentelemetry/instrumentation-http'),
      import('@opentelemetry/instrumentation-undici'),
      import('@opentelemetry/instrumentation-ioredis'),
      import('./trace-spans.js'),
    ]);
  const exporter = await createExporter(env);

  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (the env detector) win over the default name.
  const resource = resources
    .defaultResource()
    .merge(resources.resourceFromAttributes({ 'service.name': 'oidc-bff' }))
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  // Sampler (OTEL_TRACES_SAMPLER/_ARG) and batching (OTEL_BSP_*) come from the environment.
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter)] });
  // W3C trace context only: a `baggage` header from the browser must not ride along to the identity provider.
  provider.register({ propagator: new W3CTraceContextPropagator() }); // AsyncLocalStorage context

  let proxyPrefixes: readonly string[] = [];
  const routeOf = (path: string): string | undefined => {
    for (const prefix of proxyPrefixes) if (path === prefix || path.startsWith(`${prefix}/`)) return prefix;
    return GATEWAY_ROUTES.has(path) ? path : undefined;
  };

  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      new http.HttpInstrumentation({
        // The gateway's own outgoing calls all go through undici (below); node:http is only its server.
        disableOutgoingRequestInstrumentation: true,
        ignoreIncomingRequestHook: (req) => UNTRACED_PATHS.has(pathOf(req.url ?? '/')),
        requestHook: (span, req) => {
          const url = (req as IncomingMessage).url ?? '/';
          const route = routeOf(pathOf(url));
          if (route !== undefined) {
            span.setAttribute('http.route', route);
            span.updateName(`${(req as IncomingMessage).method ?? 'GET'} ${route}`);
          }
          // /auth/callback carries the code and state: keep parameter names, never values.
          const query = queryOf(url);
          if (query !== undefined) span.setAttribute('url.query', redactQuery(query));
        },
      }),
      new undici.UndiciInstrumentation({
        requestHook: (span, request) => {
          // A traceparent the browser sent is forwarded with the other headers: the gateway's own span
          // continues that trace, and the upstream must see the gateway's span as its parent, once.
          const headers = request.headers as unknown;
          if (Array.isArray(headers)) {
            for (let i = headers.length - 2; i >= 0; i -= 2) {
              if (PROPAGATION_HEADERS.has(String(headers[i]).toLowerCase())) headers.splice(i, 2);
            }
          }
          const query = queryOf(request.path);
          if (query !== undefined) {
            const redacted = redactQuery(query);
            span.setAttribute('url.query', redacted);
            span.setAttribute('url.full', `${request.origin}${pathOf(request.path)}?${redacted}`);
          }
        },
      }),
      new ioredis.IORedisInstrumentation({
        requireParentSpan: true,
        // Command names only: keys carry session ids, values carry sealed tokens.
        dbStatementSerializer: (command) => command,
      }),
    ],
  });
  await waitForAllMessagesAcknowledged();

  const spans = createTraceSpans(api.trace.getTracer('oidc-bff'));
  return {
    ...spans,
    nameRoutes(prefixes) {
      proxyPrefixes = [...prefixes];
    },
    // A collector that is down must neither fail nor hold up the shutdown: the last spans are best effort.
    shutdown: () =>
      Promise.race([
        provider.shutdown().catch(() => undefined),
        new Promise<void>((resolve) => setTimeout(resolve, SHUTDOWN_FLUSH_MS).unref()),
      ]),
  };
}

/** OTLP over HTTP, protobuf by default as the spec says, JSON when OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL=http/json. */
async function createExporter(env: NodeJS.ProcessEnv) {
  const protocol = (env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'] ?? env['OTEL_EXPORTER_OTLP_PROTOCOL'] ?? 'http/protobuf').trim();
  if (protocol === 'http/json') return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
  if (protocol !== 'http/protobuf') process.stderr.write(`tracing: OTLP protocol "${protocol}" is not supported; using http/protobuf\n`);
  return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter();
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function queryOf(url: string): string | undefined {
  const q = url.indexOf('?');
  return q === -1 || q === url.length - 1 ? undefined : url.slice(q + 1);
}

function redactQuery(query: string): string {
  return [...new URLSearchParams(query).keys()].map((name) => `${encodeURIComponent(name)}=REDACTED`).join('&');
}
