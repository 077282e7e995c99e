import { dirname } from 'node:path';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { envSchema, envVarNames, type EnvVarSpec } from '../../../src/config/env-schema.js';
import { ConfigError, loadConfig } from '../../../src/config/load-config.js';
import { loadK8sObjects, validateK8sObject, type K8sObject } from '../../support/deploy-k8s.js';

const objects = loadK8sObjects();
const find = <T>(kind: string, name: string): T => {
  const o = objects.find((x) => x.kind === kind && x.name === name);
  if (!o) throw new Error(`k8s/: no ${kind} ${name}`);
  return o.body as T;
};

const deployment = find<IDeployment>('Deployment', 'oidc-bff');
const podSpec = deployment.spec!.template.spec!;
const gateway = podSpec.containers.find((c) => c.name === 'gateway') as IContainer;
const configMap = find<IConfigMap>('ConfigMap', 'oidc-bff');
const secret = find<ISecret>('Secret', 'oidc-bff');
const cm = configMap.data ?? {};
const secretData = secret.stringData ?? {};
const isSecret = (name: string) => (envSchema[name as keyof typeof envSchema] as EnvVarSpec | undefined)?.secret === true;
const containerPort = (c: IContainer, name: string) => c.ports?.find((p) => p.name === name)?.containerPort;
const selectorMatches = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
  Object.entries(selector ?? {}).length > 0 && Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
const podLabels = deployment.spec!.template.metadata?.labels;

/** Values an operator would put in the Secret: long enough, not placeholders. */
const REAL_SECRETS = {
  SESSION_SECRET: 'a-real-session-secret-of-at-least-32-characters',
  OIDC_CLIENT_SECRET: 'client-secret',
  REDIS_PASSWORD: 'redis-password',
  ADMIN_TOKEN: 'an-admin-token-of-16+-chars',
};

describe('k8s/ manifests', () => {
  it('are all Kubernetes objects of known kinds', () => {
    expect(objects.length).toBeGreaterThan(0);
    expect(objects.map((o) => `${o.kind}/${o.name}`).sort()).toEqual(
      [
        'ConfigMap/oidc-bff',
        'ConfigMap/oidc-bff-dashboard',
        'Deployment/oidc-bff',
        'HorizontalPodAutoscaler/oidc-bff',
        'Ingress/oidc-bff',
        'NetworkPolicy/oidc-bff',
        'NetworkPolicy/oidc-bff-redis',
        'PodDisruptionBudget/oidc-bff',
        'PrometheusRule/oidc-bff',
        'Secret/oidc-bff',
        'Service/oidc-bff',
        'Service/oidc-bff-admin',
        'Service/oidc-bff-redis',
        'Service/oidc-bff-redis-headless',
        'ServiceAccount/oidc-bff',
        'ServiceMonitor/oidc-bff',
        'StatefulSet/oidc-bff-redis',
      ].sort(),
    );
  });

  it.each(objects.map((o): [string, K8sObject] => [`${o.file}: ${o.kind}/${o.name}`, o]))('%s validates against the Kubernetes schema', (_, o) => {
    expect(() => validateK8sObject(o)).not.toThrow();
  });

  it('are namespace-agnostic and labelled', () => {
    for (const o of objects) {
      const meta = o.body.metadata as { namespace?: string; labels?: Record<string, string> };
      expect(meta.namespace, `${o.kind}/${o.name}`).toBeUndefined();
      expect(meta.labels?.['app.kubernetes.io/name'], `${o.kind}/${o.name}`).toBeDefined();
    }
  });

  it('keep the Secret template out of `kubectl apply -f k8s/` (it is not recursive)', () => {
    const file = objects.find((o) => o.kind === 'Secret')!.file;
    expect(dirname(file)).not.toBe('k8s');
  });

  it('keep the monitoring kit, which needs the prometheus-operator CRDs, in k8s/monitoring/ (applied on its own)', () => {
    const kit = objects.filter((o) => o.apiVersion.startsWith('monitoring.coreos.com/') || o.name === 'oidc-bff-dashboard');
    expect(kit.map((o) => o.file).sort()).toEqual(['k8s/monitoring/grafana-dashboard.yaml', 'k8s/monitoring/prometheusrule.yaml', 'k8s/monitoring/servicemonitor.yaml']);
  });
});

describe('k8s ConfigMap and Secret', () => {
  it('hold every envSchema variable between them, secrets only in the Secret', () => {
    expect(Object.keys(cm).filter(isSecret)).toEqual([]);
    expect(Object.keys(secretData).filter((n) => !isSecret(n))).toEqual([]);
    expect([...Object.keys(cm), ...Object.keys(secretData)].sort()).toEqual([...envVarNames].sort());
  });

  it("make the gateway refuse to start until the Secret's placeholders are replaced", () => {
    let error: unknown;
    try {
      loadConfig({ ...cm, ...secretData });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toContain('SESSION_SECRET');
    expect(problems).toContain('ADMIN_TOKEN');
  });

  it('load as a production configuration once real secrets are filled in', () => {
    const config = loadConfig({ ...cm, ...secretData, ...REAL_SECRETS });
    expect(config.isProduction).toBe(true);
    expect(config.secureCookies).toBe(true);
    expect(config.trustProxy).toBe(true);
    expect(new URL(config.oidc.issuer).protocol).toBe('https:');
    expect(config.redis?.fallback).toBe('none');
    // The Secret's REDIS_URL names the bundled Redis Service.
    expect(new URL(secretData.REDIS_URL!).hostname).toBe('oidc-bff-redis');
    find<IService>('Service', 'oidc-bff-redis');
  });
});

describe('k8s Deployment', () => {
  it('runs three replicas selected by its own pod labels', () => {
    expect(deployment.spec!.replicas).toBe(3);
    expect(selectorMatches(deployment.spec!.selector.matchLabels, podLabels)).toBe(true);
  });

  it('listens on the PORT and ADMIN_PORT of the ConfigMap', () => {
    expect(containerPort(gateway, 'http')).toBe(Number(cm.PORT));
    expect(containerPort(gateway, 'admin')).toBe(Number(cm.ADMIN_PORT));
  });

  it('takes its environment from the ConfigMap and the Secret', () => {
    expect(gateway.envFrom).toEqual([{ configMapRef: { name: 'oidc-bff' } }, { secretRef: { name: 'oidc-bff' } }]);
    expect(podSpec.enableServiceLinks).toBe(false);
  });

  it('checks readiness on /readyz and liveness on /healthz, both on the admin port', () => {
    expect(gateway.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(gateway.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'admin' });
  });

  it('runs non-root with a read-only root filesystem, no privilege escalation and no capabilities', () => {
    expect(podSpec.securityContext?.runAsNonRoot).toBe(true);
    // runAsNonRoot needs a numeric uid when the image names its user.
    expect(podSpec.securityContext?.runAsUser).toBeGreaterThan(0);
    expect(gateway.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(gateway.volumeMounts?.map((m) => m.mountPath)).toContain('/tmp');
  });

  it('requests resources and bounds memory', () => {
    expect(gateway.resources?.requests?.cpu).toBeDefined();
    expect(gateway.resources?.requests?.memory).toBeDefined();
    expect(gateway.resources?.limits?.memory).toBeDefined();
  });

  it('gives the drain time: grace period > SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS + preStop sleep', () => {
    const command = gateway.lifecycle?.preStop?.exec?.command ?? [];
    expect(command[0]).toBe('sleep');
    const preStopSeconds = Number(command[1]);
    expect(preStopSeconds).toBeGreaterThan(0);
    expect(podSpec.terminationGracePeriodSeconds).toBeGreaterThan((Number(cm.SHUTDOWN_DELAY_MS) + Number(cm.SHUTDOWN_TIMEOUT_MS)) / 1000 + preStopSeconds);
  });

  it('uses its own service account without a token', () => {
    expect(podSpec.serviceAccountName).toBe('oidc-bff');
    find('ServiceAccount', 'oidc-bff');
    expect(podSpec.automountServiceAccountToken).toBe(false);
  });
});

describe('k8s Services and Ingress', () => {
  const publicService = find<IService>('Service', 'oidc-bff');
  const adminService = find<IService>('Service', 'oidc-bff-admin');
  const ingress = find<IIngress>('Ingress', 'oidc-bff');

  it('expose the public port on one Service and the admin port on another', () => {
    expect(publicService.spec!.ports!.map((p) => p.targetPort)).toEqual(['http']);
    expect(adminService.spec!.ports!.map((p) => p.targetPort)).toEqual(['admin']);
    expect(adminService.spec!.type ?? 'ClusterIP').toBe('ClusterIP');
    for (const s of [publicService, adminService]) expect(selectorMatches(s.spec!.selector, podLabels)).toBe(true);
  });

  it('route the Ingress to the public port only', () => {
    const backends = ingress.spec!.rules!.flatMap((r) => r.http!.paths.map((p) => p.backend.service!));
    expect(backends.length).toBeGreaterThan(0);
    for (const b of backends) {
      expect(b.name).toBe('oidc-bff');
      const port = publicService.spec!.ports!.find((p) => p.name === b.port?.name || p.port === b.port?.number);
      expect(port?.targetPort).toBe('http');
    }
    expect(ingress.spec!.defaultBackend).toBeUndefined();
  });

  it("serve the host of PUBLIC_URL", () => {
    expect(ingress.spec!.rules!.map((r) => r.host)).toEqual([new URL(cm.PUBLIC_URL!).host]);
  });
});

describe('k8s PodDisruptionBudget and HorizontalPodAutoscaler', () => {
  it('keep all but one pod through voluntary disruptions', () => {
    const pdb = find<IPodDisruptionBudget>('PodDisruptionBudget', 'oidc-bff');
    expect(pdb.spec!.maxUnavailable).toBe(1);
    expect(selectorMatches(pdb.spec!.selector?.matchLabels, podLabels)).toBe(true);
  });

  it('scale the Deployment from its replica count upward on CPU', () => {
    const hpa = find<IHorizontalPodAutoscaler>('HorizontalPodAutoscaler', 'oidc-bff');
    expect(hpa.spec!.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'oidc-bff' });
    expect(hpa.spec!.minReplicas).toBe(deployment.spec!.replicas);
    expect(hpa.spec!.maxReplicas).toBeGreaterThan(hpa.spec!.minReplicas!);
    expect(hpa.spec!.metrics?.[0]?.resource?.name).toBe('cpu');
  });
});

describe('k8s NetworkPolicy of the gateway', () => {
  const policy = find<INetworkPolicy>('NetworkPolicy', 'oidc-bff').spec!;
  const ingressPorts = (ns: string) =>
    (policy.ingress ?? [])
      .filter((r) => r.from?.some((f) => f.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === ns))
      .flatMap((r) => (r.ports ?? []).map((p) => p.port));

  it('applies to the gateway pods in both directions', () => {
    expect(selectorMatches(policy.podSelector.matchLabels, podLabels)).toBe(true);
    expect(policy.policyTypes).toEqual(['Ingress', 'Egress']);
  });

  it('admits the public port from the ingress controller and the admin port from monitoring only', () => {
    expect(ingressPorts('ingress-nginx')).toEqual([Number(cm.PORT)]);
    expect(ingressPorts('monitoring')).toEqual([Number(cm.ADMIN_PORT)]);
    // No rule without a source (that would admit everyone).
    for (const r of policy.ingress ?? []) expect(r.from?.length).toBeGreaterThan(0);
  });

  it('lets the gateway reach Redis, DNS and the identity provider', () => {
    const egress = policy.egress ?? [];
    const ports = (pred: (r: (typeof egress)[number]) => boolean) => egress.filter(pred).flatMap((r) => (r.ports ?? []).map((p) => `${p.protocol}/${p.port}`));
    expect(ports((r) => r.to?.some((t) => t.podSelector?.matchLabels?.['app.kubernetes.io/name'] === 'redis') ?? false)).toEqual(['TCP/6379']);
    expect(ports((r) => r.to?.some((t) => t.podSelector?.matchLabels?.['k8s-app'] === 'kube-dns') ?? false).sort()).toEqual(['TCP/53', 'UDP/53']);
    expect(ports((r) => r.to?.some((t) => t.ipBlock !== undefined) ?? false)).toContain('TCP/443');
  });
});

describe('k8s Redis', () => {
  const sts = find<IStatefulSet>('StatefulSet', 'oidc-bff-redis');
  const redis = sts.spec!.template.spec!.containers[0]!;
  const args = redis.args ?? [];
  const arg = (flag: string) => args[args.indexOf(flag) + 1];

  it('keeps its data on a persistent volume', () => {
    expect(sts.spec!.volumeClaimTemplates?.map((v) => v.metadata?.name)).toEqual(['data']);
    expect(redis.volumeMounts).toContainEqual({ name: 'data', mountPath: arg('--dir') });
  });

  it('persists with AOF and refuses writes instead of evicting keys', () => {
    expect(arg('--appendonly')).toBe('yes');
    expect(arg('--appendfsync')).toBe('everysec');
    expect(arg('--maxmemory')).toMatch(/^\d+[kmg]b$/i);
    expect(arg('--maxmemory-policy')).toBe('noeviction');
  });

  it("requires the gateway Secret's REDIS_PASSWORD", () => {
    expect(arg('--requirepass')).toBe('$(REDIS_PASSWORD)');
    expect(redis.env?.find((e) => e.name === 'REDIS_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({ name: 'oidc-bff', key: 'REDIS_PASSWORD' });
  });

  it('is governed by a headless Service and reached through a ClusterIP one', () => {
    const headless = find<IService>('Service', sts.spec!.serviceName!);
    expect(headless.spec!.clusterIP).toBe('None');
    const labels = sts.spec!.template.metadata?.labels;
    expect(selectorMatches(find<IService>('Service', 'oidc-bff-redis').spec!.selector, labels)).toBe(true);
  });

  it('runs non-root with a read-only root filesystem', () => {
    expect(sts.spec!.template.spec!.securityContext?.runAsNonRoot).toBe(true);
    expect(redis.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
  });

  it('accepts connections from the gateway pods only', () => {
    const policy = find<INetworkPolicy>('NetworkPolicy', 'oidc-bff-redis').spec!;
    expect(policy.ingress?.flatMap((r) => r.from ?? []).map((f) => f.podSelector?.matchLabels)).toEqual([podLabels]);
  });
});
