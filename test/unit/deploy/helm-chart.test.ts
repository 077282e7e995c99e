import { execFileSync } from 'node:child_process';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { envSchema, envVarNames, type EnvVarSpec } from '../../../src/config/env-schema.js';
import { loadConfig } from '../../../src/config/load-config.js';
import { getPath, parseYaml, parseYamlDocuments, readRepoFile, repoPath } from '../../support/deploy-files.js';
import {
  CHART_DIR,
  loadChartSchema,
  loadChartValues,
  loadTemplates,
  schemaHasPath,
  templateStructureProblems,
  valuesPaths,
} from '../../support/deploy-helm.js';
import { loadK8sObjects, validateK8sObject } from '../../support/deploy-k8s.js';
import { onPath } from '../../support/deploy-tools.js';

const values = loadChartValues();
const schema = loadChartSchema();
const templates = loadTemplates();
const config = values.config as Record<string, string>;
const secretEnv = getPath(values, 'secrets.env') as Record<string, string>;
const isSecret = (name: string) => (envSchema[name as keyof typeof envSchema] as EnvVarSpec).secret === true;
const secretNames = envVarNames.filter(isSecret).sort();
const configNames = envVarNames.filter((n) => !isSecret(n)).sort();

describe('helm/oidc-bff Chart.yaml', () => {
  const chart = parseYaml(readRepoFile(`${CHART_DIR}/Chart.yaml`), 'Chart.yaml') as Record<string, string>;

  it('is a v2 application chart named after its folder', () => {
    expect(chart.apiVersion).toBe('v2');
    expect(chart.name).toBe('oidc-bff');
    expect(chart.type).toBe('application');
    expect(chart.version).toMatch(/^\d+\.\d+\.\d+(-[\w.]+)?$/);
  });

  it("ships the gateway's version as appVersion (the default image tag)", () => {
    const pkg = JSON.parse(readRepoFile('package.json')) as { version: string };
    expect(chart.appVersion).toBe(pkg.version);
  });
});

describe('helm/oidc-bff values.yaml and values.schema.json', () => {
  it('is a draft-07 schema that values.yaml satisfies', () => {
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    const ok = validate(values);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
    expect(ok).toBe(true);
  });

  it('rejects a misspelt variable, so typos fail at install time', () => {
    const validate = new Ajv({ strict: false }).compile(schema);
    expect(validate({ ...values, config: { ...config, OIDC_ISSUR: 'https://x' } })).toBe(false);
  });

  it('list the non-secret variables under config and the secret ones under secrets.env', () => {
    expect(Object.keys(config).sort()).toEqual(configNames);
    expect(Object.keys(secretEnv).sort()).toEqual(secretNames);
    expect(Object.keys(schema.properties!.config!.properties!).sort()).toEqual(configNames);
    expect(Object.keys(getPath(schema, 'properties.secrets.properties.env.properties') as object).sort()).toEqual(secretNames);
  });

  it('support an existing Secret', () => {
    expect(getPath(values, 'secrets.existingSecret')).toBe('');
    expect(templates.get('secret.yaml')).toMatch(/\{\{-? if not \.Values\.secrets\.existingSecret/);
    expect(templates.get('_helpers.tpl')).toContain('.Values.secrets.existingSecret');
  });

  it('hold a configuration the gateway loads once real secrets are set', () => {
    const env = { ...config, ...secretEnv, SESSION_SECRET: 'a-real-session-secret-of-at-least-32-characters' };
    const loaded = loadConfig(env);
    expect(loaded.isProduction).toBe(true);
    expect(loaded.secureCookies).toBe(true);
  });

  it('leave the drain time: terminationGracePeriodSeconds > (SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS)/1000 + preStopSleepSeconds', () => {
    const needed = (Number(config.SHUTDOWN_DELAY_MS) + Number(config.SHUTDOWN_TIMEOUT_MS)) / 1000 + Number(values.preStopSleepSeconds);
    expect(values.terminationGracePeriodSeconds).toBeGreaterThan(needed);
  });

  it('run the gateway non-root, read-only, without privilege escalation or capabilities', () => {
    expect(values.podSecurityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    expect(values.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
  });
});

describe('helm/oidc-bff templates', () => {
  it('include every object of k8s/ (plus the ServiceAccount)', () => {
    const kindsIn = (text: string) => [...text.matchAll(/^kind: (\w+)$/gm)].map((m) => m[1]!);
    const chartKinds = new Set([...templates.values()].flatMap(kindsIn));
    const k8sKinds = new Set(loadK8sObjects().map((o) => o.kind));
    expect([...k8sKinds].filter((k) => !chartKinds.has(k))).toEqual([]);
    expect(chartKinds.has('ServiceAccount')).toBe(true);
    expect(templates.has('_helpers.tpl')).toBe(true);
    expect(templates.has('NOTES.txt')).toBe(true);
  });

  it('the structure check reads braces inside action strings as text, and still finds unbalanced ones', () => {
    expect(templateStructureProblems('v: "{{ .x }}"\n{{`{{ $labels.a }}`}} {{ "}}" }} m{ {{- $sel }}}')).toEqual([]);
    expect(templateStructureProblems('a {{ .x b')).toEqual(['a {{ is never closed']);
    expect(templateStructureProblems('a {{ .x {{ .y }}')).toEqual(['unbalanced {{ at offset 8']);
    expect(templateStructureProblems('a }} b')).toEqual(['unbalanced }} at offset 2']);
    expect(templateStructureProblems('{{ if .x }}a')).toEqual(['unclosed if']);
  });

  it.each([...templates.keys()])('%s has balanced {{ }} and closed blocks', (name) => {
    expect(templateStructureProblems(templates.get(name)!)).toEqual([]);
  });

  it.each([...templates.keys()])('%s reads only .Values paths that values.yaml and the schema declare', (name) => {
    const paths = valuesPaths(templates.get(name)!);
    expect(paths.filter((p) => getPath(values, p) === undefined), 'missing in values.yaml').toEqual([]);
    expect(paths.filter((p) => !schemaHasPath(schema, p)), 'missing in values.schema.json').toEqual([]);
  });

  it('route the Ingress to the public port only', () => {
    const ingress = templates.get('ingress.yaml')!;
    expect(ingress).toMatch(/port:\s*\n\s*name: http\n/);
    expect(ingress).not.toMatch(/admin/i);
  });

  it('probe readiness on /readyz and liveness on /healthz, both on the admin port', () => {
    const deployment = templates.get('deployment.yaml')!;
    expect(deployment).toMatch(/readinessProbe:[\s\S]*?path: \/readyz\n\s*port: admin/);
    expect(deployment).toMatch(/livenessProbe:[\s\S]*?path: \/healthz\n\s*port: admin/);
    expect(deployment).toContain('{{- include "oidc-bff.assertGracePeriod" . }}');
  });

  it('run the bundled Redis with AOF and noeviction, toggled by redis.bundled.enabled', () => {
    const redis = templates.get('redis.yaml')!;
    expect(redis.split('\n')[0]).toBe('{{- if .Values.redis.bundled.enabled }}');
    expect(redis).toMatch(/- --appendonly\n\s*- "yes"/);
    expect(redis).toMatch(/- --maxmemory-policy\n\s*- noeviction/);
    expect(redis).toContain('volumeClaimTemplates:');
  });
});

describe.skipIf(!onPath('helm'))('helm/oidc-bff with the helm binary (skipped: helm is not on PATH)', () => {
  const helm = (...args: string[]) => execFileSync('helm', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  it('passes helm lint --strict', () => {
    expect(() => helm('lint', '--strict', repoPath(CHART_DIR))).not.toThrow();
  });

  it.each([
    ['defaults', [] as string[]],
    ['existing Secret, external Redis, no autoscaling', ['--set', 'secrets.existingSecret=bff', '--set', 'redis.bundled.enabled=false', '--set', 'autoscaling.enabled=false']],
  ])('renders valid Kubernetes objects with %s', (_, args) => {
    const docs = parseYamlDocuments(helm('template', 'bff', repoPath(CHART_DIR), ...args), 'helm template');
    expect(docs.length).toBeGreaterThan(0);
    for (const body of docs) {
      const obj = { file: 'helm template', apiVersion: String(body.apiVersion), kind: String(body.kind), name: String(getPath(body, 'metadata.name')), body };
      expect(() => validateK8sObject(obj), `${obj.kind}/${obj.name}`).not.toThrow();
    }
  });
});
