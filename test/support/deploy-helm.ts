/** The Helm chart read without helm: values, schema and template text. */
import { basename } from 'node:path';
import { listRepoFiles, parseYaml, parseYamlDocuments, readRepoFile } from './deploy-files.js';
import { Ajv, type ValidateFunction } from 'ajv';
import { renderChart } from './deploy-helm-render.js';
import type { K8sObject } from './deploy-k8s.js';

export const CHART_DIR = 'helm/oidc-bff';

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  [keyword: string]: unknown;
}

export function loadChartValues(): Record<string, unknown> {
  return parseYaml(readRepoFile(`${CHART_DIR}/values.yaml`), 'values.yaml') as Record<string, unknown>;
}

export function loadChartSchema(): JsonSchema {
  return JSON.parse(readRepoFile(`${CHART_DIR}/values.schema.json`)) as JsonSchema;
}

/** Template files (templates/*.yaml, *.tpl, NOTES.txt) as name -> text. */
export function loadTemplates(): Map<string, string> {
  return new Map(listRepoFiles(`${CHART_DIR}/templates`, ['.yaml', '.tpl', '.txt']).map((f) => [basename(f), readRepoFile(f)]));
}

/** Chart files outside templates/ (dashboards/…) by chart-relative path: what `.Files.Get` reads. */
function loadChartFiles(): Map<string, string> {
  return new Map(
    listRepoFiles(CHART_DIR, ['.json', '.yaml', '.txt', '.md'], { recursive: true })
      .filter((f) => !f.startsWith(`${CHART_DIR}/templates/`))
      .map((f) => [f.slice(CHART_DIR.length + 1), readRepoFile(f)]),
  );
}

/** Go-template actions `{{ ... }}` of a template, comments removed, trim markers stripped. */
function templateActions(text: string): string[] {
  return [...text.matchAll(/\{\{-?\s*([\s\S]*?)\s*-?\}\}/g)].map((m) => m[1]!.replace(/^\/\*[\s\S]*\*\/$/, '').trim()).filter(Boolean);
}

/**
 * Problems with a template's delimiters and blocks: every `{{` closed by `}}`
 * before the next opens, and each if/range/with/define/block closed by an end
 * (else/else if only inside a block).
 */
export function templateStructureProblems(text: string): string[] {
  const problems: string[] = [];
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('{{', i);
    const stray = text.indexOf('}}', i);
    if (stray >= 0 && (open < 0 || stray < open)) {
      problems.push(`unbalanced }} at offset ${stray}`);
      i = stray + 2;
      continue;
    }
    if (open < 0) break;
    // Inside an action, braces in "…" or `…` strings are text: {{`{{ $labels.x }}`}} prints {{ $labels.x }}.
    let j = open + 2;
    let close = -1;
    while (j < text.length && close < 0) {
      const c = text[j]!;
      if (c === '"') {
        j += 1;
        while (j < text.length && text[j] !== '"' && text[j] !== '\n') j += text[j] === '\\' ? 2 : 1;
        j += 1;
      } else if (c === '`') {
        const end = text.indexOf('`', j + 1);
        j = end < 0 ? text.length : end + 1;
      } else if (text.startsWith('{{', j)) {
        problems.push(`unbalanced {{ at offset ${j}`);
        break;
      } else if (text.startsWith('}}', j)) {
        close = j;
      } else {
        j += 1;
      }
    }
    if (close < 0) {
      if (j >= text.length) problems.push('a {{ is never closed');
      i = j;
      continue;
    }
    i = close + 2;
  }
  const stack: string[] = [];
  for (const action of templateActions(text)) {
    const word = /^([a-z]+)\b/.exec(action)?.[1];
    if (word === 'if' || word === 'range' || word === 'with' || word === 'define' || word === 'block') stack.push(word);
    else if (word === 'else' && stack.length === 0) problems.push('else outside a block');
    else if (word === 'end' && stack.pop() === undefined) problems.push('end without a block');
  }
  if (stack.length > 0) problems.push(`unclosed ${stack.join(', ')}`);
  return problems;
}

/**
 * Every `.Values.a.b` path a template reads (`$.Values` included), and paths
 * read through a variable bound to one (`$redis := .Values.redis.bundled`, then `$redis.image.tag`).
 */
export function valuesPaths(text: string): string[] {
  const paths = [...text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)].map((m) => m[1]!.slice(1));
  for (const bound of text.matchAll(/\$([A-Za-z_][A-Za-z0-9_]*)\s*:?=\s*\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
    const prefix = bound[2]!.slice(1);
    for (const use of text.matchAll(new RegExp(`\\$${bound[1]}((?:\\.[A-Za-z_][A-Za-z0-9_]*)+)`, 'g'))) paths.push(`${prefix}${use[1]}`);
  }
  return [...new Set(paths)].sort();
}

/** True when a dotted path is declared in the schema (through nested `properties`). */
export function schemaHasPath(schema: JsonSchema, path: string): boolean {
  let cur: JsonSchema | undefined = schema;
  for (const key of path.split('.')) {
    cur = cur?.properties?.[key];
    if (!cur) return false;
  }
  return true;
}

/** `base` with `override` merged in, as `helm -f` / `--set` merge values (maps merge, everything else replaces). */
export function mergeValues(base: unknown, override: unknown): unknown {
  const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isMap(base) || !isMap(override)) return override === undefined ? base : override;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) out[k] = mergeValues(base[k], v);
  return out;
}

/** What the cluster already holds, for `lookup` (as in `helm upgrade`); none by default (`helm template`). */
export interface ChartCluster {
  readonly existing?: ReadonlyArray<{ apiVersion: string; kind: string; name: string; body: Record<string, unknown> & { metadata?: { namespace?: string } } }>;
}

let compiledSchema: ValidateFunction | undefined;

/**
 * Helm validates the merged values against values.schema.json before it
 * renders anything, and refuses the install when they do not meet it; so
 * does the stand-in, for every scenario rendered.
 */
function assertValuesMeetSchema(values: Record<string, unknown>): void {
  compiledSchema ??= new Ajv({ allErrors: true, strict: false }).compile(loadChartSchema());
  if (!compiledSchema(values)) {
    const problems = (compiledSchema.errors ?? []).map((e) => `${e.instancePath || '(root)'}: ${e.message ?? 'invalid'}`);
    throw new ValuesSchemaError(`values don't meet the specifications of the schema: ${problems.join('; ')}`);
  }
}

export class ValuesSchemaError extends Error {}

export interface RenderedChart {
  readonly objects: K8sObject[];
  readonly notes: string;
  readonly values: Record<string, unknown>;
}

/**
 * The chart rendered by the stand-in renderer (test/support/deploy-helm-render.ts)
 * with values.yaml plus `overrides`, every document parsed as Kubernetes would.
 */
export function renderChartObjects(overrides: Record<string, unknown> = {}, releaseName = 'oidc-bff', cluster: ChartCluster = {}): RenderedChart {
  const chart = parseYaml(readRepoFile(`${CHART_DIR}/Chart.yaml`), 'Chart.yaml') as Record<string, string>;
  const values = mergeValues(loadChartValues(), overrides) as Record<string, unknown>;
  assertValuesMeetSchema(values);
  const existing = cluster.existing ?? [];
  const rendered = renderChart(loadTemplates(), {
    values,
    chart: { Name: chart.name!, Version: chart.version!, AppVersion: chart.appVersion! },
    release: { Name: releaseName, Namespace: 'default', IsInstall: existing.length === 0, IsUpgrade: existing.length > 0, Revision: existing.length > 0 ? 2 : 1 },
    lookup: (apiVersion, kind, namespace, name) =>
      existing.find((o) => o.apiVersion === apiVersion && o.kind === kind && o.body.metadata?.namespace === namespace && o.name === name)?.body,
    files: loadChartFiles(),
  });
  const objects: K8sObject[] = [];
  for (const [name, text] of rendered) {
    if (name === 'NOTES.txt') continue;
    for (const body of parseYamlDocuments(text, `rendered ${name}`)) {
      objects.push({
        file: `${CHART_DIR}/templates/${name}`,
        apiVersion: String(body.apiVersion),
        kind: String(body.kind),
        name: String((body.metadata as { name?: string } | undefined)?.name),
        body,
      });
    }
  }
  return { objects, notes: rendered.get('NOTES.txt') ?? '', values };
}
