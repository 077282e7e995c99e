import { describe, expect, it } from 'vitest';
import { configFromObject } from '../../../src/config/config-from-object.js';
import { ConfigError, loadConfig } from '../../../src/config/load-config.js';

const minimal = { OIDC_ISSUER: 'https://id.example/realms/app', OIDC_CLIENT_ID: 'app' };

function problemsOf(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('configFromObject (library mode)', () => {
  it('gives the same defaults as the environment', () => {
    const fromObject = configFromObject(minimal);
    const fromEnv = loadConfig(minimal);
    expect({ ...fromObject, warnings: [] }).toEqual({ ...fromEnv, warnings: [] });
    expect(fromObject.session.ttlSeconds).toBe(28_800);
    expect(fromObject.session.cookieName).toBe('bff_session');
  });

  it('reports a bad value with the line the environment would give', () => {
    const bad = { ...minimal, SESSION_TTL_SECONDS: 'soon', PUBLIC_URL: 'ftp://x' };
    expect(problemsOf(() => configFromObject(bad))).toEqual(problemsOf(() => loadConfig(bad)));
  });

  it('takes numbers, booleans and lists as their environment spelling', () => {
    const config = configFromObject({ ...minimal, SESSION_TTL_SECONDS: 3600, TRUST_PROXY: true, SESSION_SECRET: ['a'.repeat(32), 'b'.repeat(32)] });
    expect(config.session.ttlSeconds).toBe(3600);
    expect(config.trustProxy).toBe(true);
    expect(config.session.secrets).toEqual(['a'.repeat(32), 'b'.repeat(32)]);
  });

  it('refuses an unknown option instead of silently using a default', () => {
    expect(problemsOf(() => configFromObject({ ...minimal, SESION_SECRET: 'typo' } as never))).toEqual(['SESION_SECRET is not a configuration option']);
  });
});
