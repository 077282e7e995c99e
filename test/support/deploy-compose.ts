/** docker-compose.yml as the deploy tests see it: parsed, anchors merged, interpolated. */
import { interpolateCompose, parseYaml, readRepoFile } from './deploy-files.js';

export interface ComposeService {
  readonly image?: string;
  readonly build?: unknown;
  readonly command?: string[] | string;
  readonly environment?: Record<string, unknown> | string[];
  readonly env_file?: unknown;
  readonly ports?: string[];
  readonly volumes?: string[];
  readonly depends_on?: Record<string, { condition?: string }> | string[];
  readonly deploy?: { replicas?: number };
  readonly container_name?: string;
  readonly stop_grace_period?: string;
  readonly healthcheck?: { test?: string[] | string };
}

export interface ComposeFile {
  readonly services: Record<string, ComposeService>;
  readonly [key: string]: unknown;
}

const COMPOSE_FILE = 'docker-compose.yml';

export function loadComposeFile(): ComposeFile {
  return parseYaml(readRepoFile(COMPOSE_FILE), COMPOSE_FILE) as ComposeFile;
}

/** A service's environment as name -> raw (uninterpolated) string; list form `K=V` accepted. */
export function rawEnvironment(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((kv) => {
      const i = kv.indexOf('=');
      return i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)];
    }));
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null || v === undefined ? '' : String(v)]));
}

/**
 * A service's environment after interpolation, as `docker compose config`
 * would produce it with no .env file and an empty shell environment.
 */
export function resolvedEnvironment(service: ComposeService, shellEnv: Record<string, string> = {}): { env: Record<string, string>; unresolved: string[] } {
  const env: Record<string, string> = {};
  const unresolved: string[] = [];
  for (const [name, raw] of Object.entries(rawEnvironment(service))) {
    const r = interpolateCompose(raw, shellEnv);
    env[name] = r.value;
    unresolved.push(...r.unresolved.map((u) => `${name} -> \${${u}}`));
  }
  return { env, unresolved };
}

/** A service's command as a list of interpolated arguments. */
export function resolvedCommand(service: ComposeService): string[] {
  const cmd = service.command ?? [];
  const list = Array.isArray(cmd) ? cmd : cmd.split(/\s+/).filter(Boolean);
  return list.map((a) => interpolateCompose(String(a), {}).value);
}

/** Published port mappings `host:container` as numbers. */
export function publishedPorts(service: ComposeService): { host: number; container: number }[] {
  return (service.ports ?? []).map((p) => {
    const parts = String(p).split(':');
    return { host: Number(parts.at(-2)), container: Number(parts.at(-1)!.split('/')[0]) };
  });
}

/** Compose durations like `15s`, `1m30s`, in seconds. */
export function durationSeconds(text: string): number {
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n / 1000 : m[2] === 's' ? n : m[2] === 'm' ? n * 60 : n * 3600;
  }
  return total;
}
