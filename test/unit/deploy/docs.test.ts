import { describe, expect, it } from 'vitest';
import { readRepoFile, repoFileExists } from '../../support/deploy-files.js';
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
