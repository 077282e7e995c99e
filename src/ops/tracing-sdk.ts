import { register } from 'node:module';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { createAddHookMessageChannel } from 'import-in-the-middle';
import type { Tracing } from './tracing-api.js';

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

  const tracer = api.trace.getTracer('oidc-bff');
  const spans = createTraceSpans(tracer);
  return {
    ...spans,
    traceUpgrade(listener) {
      return (req, socket, head) => {
        const url = req.url ?? '/';
        const route = routeOf(pathOf(url));
        const query = queryOf(url);
        const parent = api.propagation.extract(api.ROOT_CONTEXT, req.headers);
        const span = tracer.startSpan(
          route === undefined ? (req.method ?? 'GET') : `${req.method ?? 'GET'} ${route}`,
          {
            kind: api.SpanKind.SERVER,
            attributes: {
              'http.request.method': req.method ?? 'GET',
              'url.path': pathOf(url),
              ...(route === undefined ? {} : { 'http.route': route }),
              ...(query === undefined ? {} : { 'url.query': redactQuery(query) }),
            },
          },
          parent,
        );
        const active = api.trace.setSpan(parent, span);
        // The handshake is forwarded with the browser's headers: the upstream's parent is this span, not the browser's.
        delete req.headers['traceparent'];
        delete req.headers['tracestate'];
        api.propagation.inject(active, req.headers);
        endOnAnswer(socket, (status) => {
          if (status !== undefined) span.setAttribute('http.response.status_code', status);
          if (status === undefined || status >= 500) span.setStatus({ code: api.SpanStatusCode.ERROR });
          span.end();
        });
        api.context.with(active, () => listener(req, socket, head));
      };
    },
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

/**
 * Calls `done` once: with the status of the first thing written to the socket
 * (the handshake's answer: 101, a refusal, the upstream's own refusal), or
 * with undefined when the socket closes before any answer.
 */
function endOnAnswer(socket: Duplex, done: (status: number | undefined) => void): void {
  const { write, end } = socket;
  let settled = false;
  const settle = (chunk: unknown) => {
    if (settled) return;
    settled = true;
    socket.write = write;
    socket.end = end;
    const head = typeof chunk === 'string' ? chunk.slice(0, 16) : Buffer.isBuffer(chunk) ? chunk.subarray(0, 16).toString('latin1') : '';
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1];
    done(status === undefined ? undefined : Number(status));
  };
  socket.write = function (this: Duplex, chunk: unknown, ...rest: unknown[]) {
    settle(chunk);
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as Duplex['write'];
  socket.end = function (this: Duplex, ...args: unknown[]) {
    settle(typeof args[0] === 'function' ? undefined : args[0]);
    return (end as (...a: unknown[]) => Duplex).apply(this, args);
  } as Duplex['end'];
  socket.once('close', () => settle(undefined));
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
