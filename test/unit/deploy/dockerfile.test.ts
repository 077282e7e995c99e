import { describe, expect, it } from 'vitest';
import { containerNodeFlags } from '../../../bench/gateway-process.js';
import { envSchema } from '../../../src/config/env-schema.js';
import { parseDockerfile, readRepoFile } from '../../support/deploy-files.js';

const instructions = parseDockerfile(readRepoFile('Dockerfile'));
const lastStage = Math.max(...instructions.map((i) => i.stage));
const inStage = (stage: number, keyword: string) => instructions.filter((i) => i.stage === stage && i.keyword === keyword);
const runtime = (keyword: string) => inStage(lastStage, keyword);

describe('Dockerfile', () => {
  it('has a build stage and a runtime stage, both on Node LTS alpine', () => {
    const froms = instructions.filter((i) => i.keyword === 'FROM');
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const args = instructions.filter((i) => i.keyword === 'ARG' && i.stage === -1).map((i) => i.args);
    for (const from of froms) {
      const image = from.args.split(/\s+/)[0]!.replace('${NODE_VERSION}', /NODE_VERSION=(\d+)/.exec(args.join(' '))?.[1] ?? '');
      expect(image).toMatch(/^node:(22|24)-alpine$/);
    }
  });

  it('installs all dependencies and builds in the first stage', () => {
    const runs = inStage(0, 'RUN').map((i) => i.args);
    expect(runs.some((r) => /\bnpm ci\b(?!.*--omit)/.test(r))).toBe(true);
    expect(runs.some((r) => /\bnpm run build\b/.test(r))).toBe(true);
  });

  it('ships only dist/ and production dependencies in the runtime stage', () => {
    expect(runtime('RUN').some((i) => /\bnpm ci\b.*--omit=dev/.test(i.args))).toBe(true);
    const copies = runtime('COPY').map((i) => i.args);
    expect(copies.filter((c) => c.includes('--from='))).toEqual([expect.stringMatching(/--from=\S+ \/app\/dist \.\/dist$/)]);
    // Nothing else of the source tree: only manifests for npm ci.
    expect(copies.filter((c) => !c.includes('--from='))).toEqual(['package.json package-lock.json ./']);
    expect(runtime('RUN').some((i) => /npm run build/.test(i.args))).toBe(false);
  });

  it('runs as the unprivileged node user with NODE_ENV=production', () => {
    const users = runtime('USER');
    expect(users.at(-1)?.args).toBe('node');
    expect(runtime('ENV').map((i) => i.args)).toContain('NODE_ENV=production');
  });

  it('exposes the default public and admin ports', () => {
    expect(runtime('EXPOSE').flatMap((i) => i.args.split(/\s+/)).sort()).toEqual([envSchema.PORT.default, envSchema.ADMIN_PORT.default].sort());
  });

  it('health-checks /healthz on the admin port with node (no curl in alpine)', () => {
    const hc = runtime('HEALTHCHECK');
    expect(hc).toHaveLength(1);
    expect(hc[0]!.args).toMatch(/CMD \["node",/);
    expect(hc[0]!.args).toContain(`http://127.0.0.1:' + (process.env.ADMIN_PORT || ${envSchema.ADMIN_PORT.default}) + '/healthz`);
  });

  it('starts node directly in exec form, so node receives SIGTERM', () => {
    const cmd = runtime('CMD');
    expect(cmd).toHaveLength(1);
    expect(JSON.parse(cmd[0]!.args)).toEqual(['node', '--max-semi-space-size=32', '--import', './dist/ops/otel-register.js', 'dist/main.js']);
    expect(runtime('ENTRYPOINT')).toEqual([]);
  });

  it('runs the gateway with the flags `npm start` and the bench use', () => {
    const cmd = JSON.parse(runtime('CMD')[0]!.args) as string[];
    const start = (JSON.parse(readRepoFile('package.json')) as { scripts: Record<string, string> }).scripts['start']!;
    expect(start).toBe(cmd.join(' '));
    expect(containerNodeFlags()).toEqual(cmd.slice(1, cmd.indexOf('--import')));
  });
});

describe('.dockerignore', () => {
  const entries = readRepoFile('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

  it('keeps node_modules, build output, git and local env files out of the build context', () => {
    for (const e of ['node_modules', 'dist', '.git', '.env', '.env.*']) expect(entries).toContain(e);
  });

  it('does not exclude what the build stage copies', () => {
    for (const needed of ['src', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) {
      expect(entries).not.toContain(needed);
    }
  });
});
