/**
 * Kubernetes manifests of k8s/ validated with kubernetes-models@4 (the
 * OpenAPI schemas of Kubernetes, compiled) and, for k8s/monitoring/, with
 * @kubernetes-models/prometheus-operator (the operator's CRD schemas). It
 * checks types, required fields, patterns and enums; like kubeconform's
 * default mode it does not reject unknown fields, so the tests assert the
 * fields that matter by name as well.
 */
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { listRepoFiles, parseYamlDocuments, readRepoFile, type Yaml } from './deploy-files.js';

type Validatable = { validate(): void };
type ModelClass = new (data: never) => Validatable;

/** apiVersion/kind -> model class. A kind missing here fails the tests: add it. */
const K8S_MODELS: Record<string, ModelClass> = {
  'v1/ConfigMap': ConfigMap as unknown as ModelClass,
  'v1/Secret': Secret as unknown as ModelClass,
  'v1/Service': Service as unknown as ModelClass,
  'v1/ServiceAccount': ServiceAccount as unknown as ModelClass,
  'apps/v1/Deployment': Deployment as unknown as ModelClass,
  'apps/v1/StatefulSet': StatefulSet as unknown as ModelClass,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget as unknown as ModelClass,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler as unknown as ModelClass,
  'networking.k8s.io/v1/Ingress': Ingress as unknown as ModelClass,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy as unknown as ModelClass,
  // The prometheus-operator CRDs' schemas (@kubernetes-models/prometheus-operator).
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor as unknown as ModelClass,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule as unknown as ModelClass,
};

export interface K8sObject {
  readonly file: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly body: Yaml;
}

/** Every document of every YAML file under k8s/ (recursively, the Secret template included). */
export function loadK8sObjects(): K8sObject[] {
  return listRepoFiles('k8s', ['.yaml', '.yml'], { recursive: true }).flatMap((file) =>
    parseYamlDocuments(readRepoFile(file), file).map((body) => ({
      file,
      apiVersion: String(body.apiVersion),
      kind: String(body.kind),
      name: String((body.metadata as { name?: string } | undefined)?.name),
      body,
    })),
  );
}

/** Throws with the schema errors when the object does not validate. */
export function validateK8sObject(obj: K8sObject): void {
  const Model = K8S_MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!Model) throw new Error(`${obj.file}: no model registered for ${obj.apiVersion}/${obj.kind}`);
  new Model(obj.body as never).validate();
}

/** An object's body as its kubernetes-models interface (IDeployment, IService, ...). */
export function bodyAs<T>(obj: K8sObject): T {
  return obj.body as unknown as T;
}
