import { describe, expect, it } from 'vitest';
import { envSchema, envVarNames, type EnvVarSpec } from '../../../src/config/env-schema.js';
import { loadConfig } from '../../../src/config/load-config.js';
import { parseDotenv, readRepoFile } from '../../support/deploy-files.js';
import { renderEnvExample } from '../../support/deploy-env-example.js';

const text = readRepoFile('.env.example');

describe('.env.example', () => {
  it('is the rendering of envSchema (refresh: npx tsx test/support/deploy-env-example.ts --write)', () => {
    expect(text).toBe(renderEnvExample());
  });

  it('shows each default and leaves the others empty', () => {
    const values = parseDotenv(text);
    for (const name of envVarNames) {
      const spec: EnvVarSpec = envSchema[name];
      expect(values.get(name), name).toBe(spec.default ?? '');
    }
  });

  it('describes each variable on the line above it and marks required ones', () => {
    const lines = text.split('\n');
    for (const name of envVarNames) {
      const i = lines.findIndex((l) => l.startsWith(`${name}=`));
      const comment = lines[i - 1] ?? '';
      expect(comment, name).toContain(envSchema[name].description);
      const spec: EnvVarSpec = envSchema[name];
      expect(comment.includes('[required]'), name).toBe(spec.required === true);
    }
  });

  it('loads once the required variables are filled in', () => {
    const env = Object.fromEntries(parseDotenv(text));
    expect(() => loadConfig({ ...env, OIDC_ISSUER: 'http://localhost:8081/realms/demo', OIDC_CLIENT_ID: 'bff' })).not.toThrow();
  });
});
