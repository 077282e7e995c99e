/**
 * The chart rendered without helm (test/support/deploy-helm-render.ts, a
 * text/template + Sprig subset) and checked like k8s/: schema-valid objects,
 * consistent selectors and ports, an environment the gateway loads, and the
 * same pod hardening as the plain manifests.
 */
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { envVarNames } from '../../../src/config/env-schema.js';
import { loadConfig } from '../../../src/config/load-config.js';
import { HelmRenderError } from '../../support/deploy-helm-render.js';
import { renderChartObjects, ValuesSchemaError, type RenderedChart } from '../../support/deploy-helm.js';
import { bodyAs, loadK8sObjects, validateK8sObject, type K8sObject } from '../../support/deploy-k8s.js';

const get = <T>(r: RenderedChart, kind: string, name: string): T => {
  const o = r.objects.find((x) => x.kind === kind && x.name === name);
  if (!o) throw new Error(`rendered chart: no ${kind} ${name}`);
  return bodyAs<T>(o);
};
const kinds = (r: RenderedChart) => r.objects.map((o) => `${o.kind}/${o.name}`).sort();
const selectorMatches = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
  Object.entries(selector ?? {}).length > 0 && Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
const decode = (data: Record<string, string> | undefined) =>
  Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));

const SCENARIOS: [string, Record<string, unknown>, string?][] = [
  ['default values', {}],
  [
    'an existing Secret, an external Redis, fixed replicas, no Ingress',
    {
      secrets: { existingSecret: 'bff-secrets' },
      redis: { bundled: { enabled: false } },
      autoscaling: { enabled: false },
      ingress: { enabled: false },
      extraEnv: [{ name: 'NODE_EXTRA_CA_CERTS', value: '/etc/ssl/custom/ca.pem' }],
      extraVolumes: [{ name: 'ca', configMap: { name: 'corp-ca' } }],
      extraVolumeMounts: [{ name: 'ca', mountPath: '/etc/ssl/custom', readOnly: true }],
      networkPolicy: { extraEgress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }], ports: [{ protocol: 'TCP', port: 6380 }] }] },
    },
  ],
  ['Redis without persistence, no network policies, another release name', { redis: { bundled: { persistence: { enabled: false } } }, networkPolicy: { enabled: false } }, 'edge'],
  [
    'the monitoring kit switched on, another release name',
    { monitoring: { serviceMonitor: { enabled: true }, prometheusRule: { enabled: true }, grafanaDashboard: { enabled: true } } },
    'edge',
  ],
];

describe.each(SCENARIOS)('helm/oidc-bff rendered with %s', (_, overrides, release) => {
  const rendered = renderChartObjects(overrides, release);

  it.each(rendered.objects.map((o): [string, K8sObject] => [`${o.kind}/${o.name}`, o]))('%s validates against the Kubernetes schema', (__, o) => {
    expect(() => validateK8sObject(o)).not.toThrow();
  });

  it('prints no missing value and renders its notes', () => {
    for (const o of rendered.objects) expect(JSON.stringify(o.body)).not.toContain('<no value>');
    expect(rendered.notes).toContain('/auth/callback');
  });

  it('selects its own pods everywhere', () => {
    for (const o of rendered.objects) {
      if (o.kind === 'Deployment' || o.kind === 'StatefulSet') {
        const spec = bodyAs<IDeployment | IStatefulSet>(o).spec!;
        expect(selectorMatches(spec.selector.matchLabels, spec.template.metadata?.labels), o.name).toBe(true);
      }
    }
    const deployment = get<IDeployment>(rendered, 'Deployment', release ? `${release}-oidc-bff` : 'oidc-bff');
    const podLabels = deployment.spec!.template.metadata!.labels;
    const services = rendered.objects.filter((o) => o.kind === 'Service' && !o.name.includes('redis'));
    for (const s of services) expect(selectorMatches(bodyAs<IService>(s).spec!.selector, podLabels), s.name).toBe(true);
  });
});

describe('helm/oidc-bff rendered with default values', () => {
  const r = renderChartObjects();
  const deployment = get<IDeployment>(r, 'Deployment', 'oidc-bff');
  const pod = deployment.spec!.template.spec!;
  const gateway = pod.containers[0]!;
  const configMap = get<IConfigMap>(r, 'ConfigMap', 'oidc-bff');
  const secret = decode(get<ISecret>(r, 'Secret', 'oidc-bff').data);

  it('creates the same kinds of objects as k8s/, plus none unexpected', () => {
    expect(kinds(r)).toEqual(
      [
        'ConfigMap/oidc-bff',
        'Deployment/oidc-bff',
        'HorizontalPodAutoscaler/oidc-bff',
        'Ingress/oidc-bff',
        'NetworkPolicy/oidc-bff',
        'NetworkPolicy/oidc-bff-redis',
        'PodDisruptionBudget/oidc-bff',
        'Secret/oidc-bff',
        'Service/oidc-bff',
        'Service/oidc-bff-admin',
        'Service/oidc-bff-redis',
        'Service/oidc-bff-redis-headless',
        'ServiceAccount/oidc-bff',
        'StatefulSet/oidc-bff-redis',
      ].sort(),
    );
    // k8s/monitoring/ is the chart's monitoring kit, off by default (test/unit/deploy/monitoring-kit.test.ts).
    const plain = loadK8sObjects().filter((o) => !o.file.startsWith('k8s/monitoring/'));
    expect(kinds(r)).toEqual(plain.map((o) => `${o.kind}/${o.name}`).sort());
  });

  it('puts every envSchema variable in the ConfigMap or the Secret', () => {
    expect([...Object.keys(configMap.data ?? {}), ...Object.keys(secret)].sort()).toEqual([...envVarNames].sort());
  });

  it('generates a session secret the gateway accepts, and gives the gateway a loadable environment', () => {
    expect(secret.SESSION_SECRET!.length).toBeGreaterThanOrEqual(32);
    const overrides = Object.fromEntries((gateway.env ?? []).map((e) => [e.name, e.value ?? '']));
    const config = loadConfig({ ...configMap.data, ...secret, ...overrides });
    expect(config.isProduction).toBe(true);
    expect(config.redis?.topology).toEqual({ mode: 'single', url: 'redis://oidc-bff-redis:6379/0' });
    get<IService>(r, 'Service', 'oidc-bff-redis');
  });

  it('leaves the replica count to the autoscaler', () => {
    expect(deployment.spec!.replicas).toBeUndefined();
  });

  it('hardens and probes the gateway pod exactly like k8s/deployment.yaml', () => {
    const plain = bodyAs<IDeployment>(loadK8sObjects().find((o) => o.kind === 'Deployment')!);
    const plainPod = plain.spec!.template.spec!;
    const plainGateway = plainPod.containers[0]!;
    for (const key of ['securityContext', 'readinessProbe', 'livenessProbe', 'startupProbe', 'lifecycle', 'resources', 'ports', 'volumeMounts'] as const) {
      expect(gateway[key], key).toEqual(plainGateway[key]);
    }
    for (const key of ['securityContext', 'terminationGracePeriodSeconds', 'enableServiceLinks', 'automountServiceAccountToken', 'volumes'] as const) {
      expect(pod[key], key).toEqual(plainPod[key]);
    }
  });

  it('runs the bundled Redis like k8s/redis.yaml', () => {
    const plain = bodyAs<IStatefulSet>(loadK8sObjects().find((o) => o.kind === 'StatefulSet')!);
    const redis = get<IStatefulSet>(r, 'StatefulSet', 'oidc-bff-redis');
    const [a, b] = [redis, plain].map((s) => s.spec!.template.spec!.containers[0]!);
    expect(a!.args).toEqual(b!.args);
    expect(a!.securityContext).toEqual(b!.securityContext);
    expect(redis.spec!.volumeClaimTemplates).toEqual(plain.spec!.volumeClaimTemplates);
  });

  it('routes the Ingress to the public Service port only', () => {
    const ingress = get<IIngress>(r, 'Ingress', 'oidc-bff');
    const backends = ingress.spec!.rules!.flatMap((rule) => rule.http!.paths.map((p) => p.backend.service!));
    expect(backends).toEqual([{ name: 'oidc-bff', port: { name: 'http' } }]);
    expect(get<IService>(r, 'Service', 'oidc-bff').spec!.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http' }]);
  });

  it('admits the public port from the ingress controller and the admin port from monitoring only', () => {
    const policy = get<INetworkPolicy>(r, 'NetworkPolicy', 'oidc-bff').spec!;
    const plain = bodyAs<INetworkPolicy>(loadK8sObjects().find((o) => o.kind === 'NetworkPolicy' && o.name === 'oidc-bff')!);
    expect(policy.ingress).toEqual(plain.spec!.ingress);
  });
});

describe('helm/oidc-bff rendered with other values', () => {
  it('uses an existing Secret and no bundled Redis when asked', () => {
    const r = renderChartObjects({ secrets: { existingSecret: 'bff-secrets' }, redis: { bundled: { enabled: false } } });
    expect(r.objects.filter((o) => o.kind === 'Secret' || o.kind === 'StatefulSet')).toEqual([]);
    const gateway = get<IDeployment>(r, 'Deployment', 'oidc-bff').spec!.template.spec!.containers[0]!;
    expect(gateway.envFrom).toContainEqual({ secretRef: { name: 'bff-secrets' } });
    expect(gateway.env).toBeUndefined();
  });

  it('keeps given secrets as they are', () => {
    const r = renderChartObjects({ secrets: { env: { SESSION_SECRET: 'given-session-secret-of-at-least-32-chars' } } });
    expect(decode(get<ISecret>(r, 'Secret', 'oidc-bff').data).SESSION_SECRET).toBe('given-session-secret-of-at-least-32-chars');
  });

  it('sets a fixed replica count without the autoscaler', () => {
    const r = renderChartObjects({ autoscaling: { enabled: false }, replicaCount: 5 });
    expect(get<IDeployment>(r, 'Deployment', 'oidc-bff').spec!.replicas).toBe(5);
    expect(r.objects.some((o) => o.kind === 'HorizontalPodAutoscaler')).toBe(false);
  });

  it('keeps the generated SESSION_SECRET and REDIS_PASSWORD across helm upgrade (a new one would log every user out)', () => {
    const install = renderChartObjects();
    const installed = get<ISecret>(install, 'Secret', 'oidc-bff');
    const generated = decode(installed.data);
    expect(generated.SESSION_SECRET).toMatch(/^[A-Za-z0-9]{48}$/);
    expect(generated.REDIS_PASSWORD).toMatch(/^[A-Za-z0-9]{48}$/);
    // The cluster now holds that Secret in the release's namespace; lookup finds it on upgrade.
    const inCluster = { apiVersion: 'v1', kind: 'Secret', name: 'oidc-bff', body: { ...installed, metadata: { ...installed.metadata, namespace: 'default' } } as Record<string, unknown> };
    const upgrade = renderChartObjects({}, undefined, { existing: [inCluster] });
    expect(decode(get<ISecret>(upgrade, 'Secret', 'oidc-bff').data)).toMatchObject({
      SESSION_SECRET: generated.SESSION_SECRET,
      REDIS_PASSWORD: generated.REDIS_PASSWORD,
    });
    // Without the previous Secret (a fresh install) a new one is generated: the test above can tell them apart.
    expect(decode(get<ISecret>(renderChartObjects(), 'Secret', 'oidc-bff').data).SESSION_SECRET).not.toBe(generated.SESSION_SECRET);
    // A value given explicitly wins over the stored one.
    const given = renderChartObjects({ secrets: { env: { SESSION_SECRET: 'given-session-secret-of-at-least-32-chars' } } }, undefined, { existing: [inCluster] });
    expect(decode(get<ISecret>(given, 'Secret', 'oidc-bff').data).SESSION_SECRET).toBe('given-session-secret-of-at-least-32-chars');
  });

  it('refuses values that do not meet values.schema.json before rendering, as helm does', () => {
    expect(() => renderChartObjects({ replicaCount: 'five' })).toThrow(ValuesSchemaError);
    expect(() => renderChartObjects({ replicaCount: 'five' })).toThrow(/\/replicaCount: must be integer/);
    expect(() => renderChartObjects({ replicaCont: 3 })).toThrow(/must NOT have additional properties/);
  });

  it('refuses a grace period shorter than the drain', () => {
    expect(() => renderChartObjects({ terminationGracePeriodSeconds: 15 })).toThrow(HelmRenderError);
    expect(() => renderChartObjects({ terminationGracePeriodSeconds: 15 })).toThrow(/terminationGracePeriodSeconds \(15\) must exceed/);
  });
});
