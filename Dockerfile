# syntax=docker/dockerfile:1
# oidc-bff gateway image: build with `docker build -t oidc-bff .`
#
# Two stages: the build stage needs the TypeScript toolchain (devDependencies);
# the runtime stage carries only dist/ and the production dependencies, so the
# image holds no compiler, no test code and no dev-only identity provider.

# Node 22 is the current maintenance LTS; the code runs on Node >= 20 (package.json engines).
ARG NODE_VERSION=22

FROM node:${NODE_VERSION}-alpine AS build
WORKDIR /app
# Manifests first: the dependency layer is reused until package*.json changes.
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:${NODE_VERSION}-alpine AS runtime
# production: the gateway then insists on a real SESSION_SECRET and an https
# provider (see OIDC_ALLOW_INSECURE_HTTP), and libraries skip dev-only paths.
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no production dependency needs an install script, and
# skipping them keeps a compromised package from running code at build time.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts
COPY --from=build /app/dist ./dist
# The official image ships the unprivileged user `node` (uid 1000). Kubernetes
# needs the numeric uid for runAsNonRoot checks, so k8s/ and the chart set
# runAsUser: 1000 as well.
USER node
# PORT (public) and ADMIN_PORT (health, readiness, metrics: never publish it).
EXPOSE 3000 9090
# Liveness of the process only (/healthz); readiness (/readyz) is for load
# balancers and Kubernetes. Alpine has no curl, so node's own fetch does it.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.ADMIN_PORT || 9090) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form, so node is PID 1 and receives SIGTERM itself: main.ts handles
# SIGTERM/SIGINT (drains within SHUTDOWN_TIMEOUT_MS), and the gateway spawns no
# child processes that would need reaping, so neither tini nor --init is needed.
# otel-register starts OpenTelemetry tracing before the gateway's modules load,
# and only when OTEL_EXPORTER_OTLP_ENDPOINT is set (docs/operations.md, Tracing).
# --max-semi-space-size=32: a young generation big enough that a proxied
# request's objects die in it instead of being promoted between scavenges:
# p99 1.4-1.5x the bare proxy's against 2.1x with V8's defaults, at about the
# same CPU since promoted Authorization copies were removed (docs/benchmarks.md,
# "The young generation, again"). `npm start` runs the same flags.
CMD ["node", "--max-semi-space-size=32", "--import", "./dist/ops/otel-register.js", "dist/main.js"]
