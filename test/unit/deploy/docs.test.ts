import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { getPath, readRepoFile, repoFileExists } from '../../support/deploy-files.js';
import { renderChartObjects } from '../../support/deploy-helm.js';
import { markdownAnchors } from '../../support/deploy-monitoring.js';

const DOCS = ['docs/deploy.md', 'docs/operations.md', 'docs/production-redis.md', 'deploy/keycloak/README.md'];
/** Repo paths a document names, like `k8s/redis.yaml` or `deploy/nginx/nginx.conf`. */
const namedPaths = (text: string) =>
  [...text.matchAll(/(?<![\w/.-])((?:k8s|deploy|helm|docs|test|src)\/[\w./-]*\w|docker-compose\.yml|Dockerfile|\.env\.example)/g)].map((m) => m[1]!);

describe.each(DOCS)('%s', (doc) => {
  const text = readRepoFile(doc);

  it('names only files and folders that exist', () => {
    const missing = [...new Set(namedPaths(text))].filter((p) => !repoFileExists(p) && !repoFileExists(p.replace(/^(?:\.\.\/)+/, '')));
    expect(missing).toEqual([]);
  });

  it('links only to headings that exist (#anchors here and in sibling docs)', () => {
    const broken = [...text.matchAll(/\]\(([\w.-]*\.md)?#([^)\s]+)\)/g)].filter(([, file, anchor]) => {
      const target = file ? `${doc.slice(0, doc.lastIndexOf('/') + 1)}${file}` : doc;
      return !repoFileExists(target) || !markdownAnchors(readRepoFile(target)).has(anchor!);
    });
    expect(broken.map((m) => m[0])).toEqual([]);
  });

  it('never suggests KEYS on a live Redis', () => {
    expect(text).not.toMatch(/^\s*(?:>\s*)?KEYS\s/m);
  });
});

describe('docs/operations.md, tracing through a Collector', () => {
  it('gives Helm values that set the endpoint and let the NetworkPolicy admit the Collector', () => {
    const section = readRepoFile('docs/operations.md').split('### Through an OpenTelemetry Collector')[1]!;
    const values = parse(/```yaml\n([\s\S]*?)```/.exec(section)![1]!) as Record<string, unknown>;
    const objects = renderChartObjects(values).objects;
    const deployment = objects.find((o) => o.kind === 'Deployment' && o.name === 'oidc-bff')!;
    const env = getPath(deployment.body, 'spec.template.spec.containers.0.env') as { name: string; value?: string }[];
    const endpoint = new URL(env.find((e) => e.name === 'OTEL_EXPORTER_OTLP_ENDPOINT')!.value!);
    const policy = objects.find((o) => o.kind === 'NetworkPolicy' && o.name === 'oidc-bff')!;
    const egress = getPath(policy.body, 'spec.egress') as { ports?: { port: number }[] }[];
    expect(egress.some((rule) => rule.ports?.some((p) => p.port === Number(endpoint.port)))).toBe(true);
  });
});
