import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A ROUTES_FILE with one /api route to the upstream, with these (indented YAML) policy lines. */
export function routesFile(upstreamUrl: string, policyLines: readonly string[]): string {
  const file = join(mkdtempSync(join(tmpdir(), 'bench-routes-')), 'routes.yaml');
  writeFileSync(file, ['routes:', '  - prefix: /api', `    target: ${upstreamUrl}`, ...policyLines, ''].join('\n'));
  return file;
}
