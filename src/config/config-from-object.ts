import type { Config } from './config.js';
import { envSchema, type EnvVarName } from './env-schema.js';
import { ConfigError, loadConfig, type LoadConfigDeps } from './load-config.js';

/** One configuration value as a host app may write it; lists become comma-separated, like the environment's. */
export type BffConfigValue = string | number | boolean | readonly string[];

/** The environment's variables as an object (`{ OIDC_ISSUER: '…', PROXY_ROUTES: '/api=http://api:8080' }`). */
export type BffConfigInput = Partial<Record<EnvVarName, BffConfigValue>>;

/**
 * Library mode's configuration: the same names, defaults and checks as the
 * environment (loadConfig), so an object fails with the lines a bad
 * environment would. An unknown name is a problem too: a typo must not
 * silently fall back to a default.
 */
export function configFromObject(input: BffConfigInput, deps: LoadConfigDeps = {}): Config {
  const env: Record<string, string> = {};
  const unknown: string[] = [];
  for (const [name, value] of Object.entries(input)) {
    if (!(name in envSchema)) {
      unknown.push(`${name} is not a configuration option`);
      continue;
    }
    if (value === undefined) continue;
    env[name] = Array.isArray(value) ? value.join(',') : String(value);
  }
  let config: Config | undefined;
  const problems = unknown;
  try {
    config = loadConfig(env, deps);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  if (problems.length > 0 || config === undefined) throw new ConfigError(problems);
  return config;
}
