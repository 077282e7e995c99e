/**
 * Readers for the deploy files (compose, Kubernetes, Helm, Dockerfile, dotenv),
 * shared by test/unit/deploy. There is no Docker engine or helm binary in CI,
 * so every deploy file is checked by parsing it.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parseDocument } from 'yaml';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function repoPath(...parts: string[]): string {
  return join(repoRoot, ...parts);
}

export function readRepoFile(rel: string): string {
  return readFileSync(repoPath(rel), 'utf8');
}

export function repoFileExists(rel: string): boolean {
  return existsSync(repoPath(rel));
}

/** Files under a repo folder whose names end in one of `suffixes`, repo-relative, sorted. */
export function listRepoFiles(dir: string, suffixes: readonly string[], opts: { recursive?: boolean } = {}): string[] {
  const out: string[] = [];
  const walk = (abs: string): void => {
    for (const entry of readdirSync(abs, { withFileTypes: true })) {
      const full = join(abs, entry.name);
      if (entry.isDirectory()) {
        if (opts.recursive) walk(full);
      } else if (suffixes.some((s) => entry.name.endsWith(s))) {
        out.push(relative(repoRoot, full));
      }
    }
  };
  walk(repoPath(dir));
  return out.sort();
}

export type Yaml = Record<string, unknown>;

/** One YAML document; `<<` merge keys resolved (compose anchors use them). Throws on any parse error. */
export function parseYaml(text: string, name = 'yaml'): unknown {
  const doc = parseDocument(text, { merge: true, prettyErrors: true });
  if (doc.errors.length > 0) throw new Error(`${name}: ${doc.errors.map((e) => e.message).join('; ')}`);
  return doc.toJS({ maxAliasCount: -1 });
}

/**
 * Every non-empty document of a multi-document YAML file. Throws on any parse
 * error, duplicate keys included. Parsed as YAML 1.1, as kubectl and the API
 * server do (go-yaml): an unquoted `on`, `off`, `yes` or `no` is a boolean there.
 */
export function parseYamlDocuments(text: string, name = 'yaml'): Yaml[] {
  const docs = parseAllDocuments(text, { prettyErrors: true, version: '1.1', uniqueKeys: true });
  if (!Array.isArray(docs)) throw new Error(`${name}: not a YAML stream`);
  const out: Yaml[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${name}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`${name}: a document is not a mapping`);
    out.push(value as Yaml);
  }
  return out;
}

/** `obj.a.b.c` for a dotted path, undefined when any step is missing. */
export function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !(key in (cur as object))) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** KEY=value pairs of a dotenv file, in order; surrounding double or single quotes removed. */
export function parseDotenv(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2]!.trim();
    if (/^(".*"|'.*')$/.test(value)) value = value.slice(1, -1);
    out.set(m[1]!, value);
  }
  return out;
}

/**
 * Compose-style interpolation of one value: `$$` is a literal `$`,
 * `${VAR}`, `${VAR:-default}` (default when unset or empty), `${VAR-default}`
 * (default when unset). `unresolved` names variables with neither a value nor a default.
 */
export function interpolateCompose(value: string, env: Readonly<Record<string, string | undefined>>): { value: string; unresolved: string[] } {
  const unresolved: string[] = [];
  const out = value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (match, braced?: string, op?: string, def?: string, bare?: string) => {
    if (match === '$$') return '$';
    const name = (braced ?? bare)!;
    const v = env[name];
    if (op === ':-') return v === undefined || v === '' ? def! : v;
    if (op === '-') return v === undefined ? def! : v;
    if (v === undefined) unresolved.push(name);
    return v ?? '';
  });
  return { value: out, unresolved };
}

export interface DockerInstruction {
  /** Upper-cased keyword: FROM, RUN, COPY, ... */
  readonly keyword: string;
  /** The rest of the instruction, continuation lines joined. */
  readonly args: string;
  /** Index of the build stage (0 = first FROM); -1 before any FROM (ARG). */
  readonly stage: number;
}

/** Dockerfile instructions: comments dropped, `\` continuations joined. */
export function parseDockerfile(text: string): DockerInstruction[] {
  const out: DockerInstruction[] = [];
  let stage = -1;
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (pending !== '' && line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^(\S+)\s*(.*)$/.exec(full);
    if (!m) continue;
    const keyword = m[1]!.toUpperCase();
    if (keyword === 'FROM') stage += 1;
    out.push({ keyword, args: m[2]!, stage });
  }
  return out;
}

/** Host and port of a URL, the port defaulted from the scheme. */
export function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  const defaults: Record<string, number> = { 'http:': 80, 'https:': 443, 'redis:': 6379, 'rediss:': 6379 };
  return { host: u.hostname, port: u.port ? Number(u.port) : (defaults[u.protocol] ?? 0) };
}

/** Variable names in the first cell of the rows of README.md's configuration table. */
export function readmeConfigurationNames(readme: string): string[] {
  const lines = readme.split('\n');
  const start = lines.findIndex((l) => /^#{1,6}\s.*\bconfiguration\b/i.test(l));
  if (start < 0) throw new Error('README.md has no "Configuration" section');
  const level = /^(#+)/.exec(lines[start]!)![1]!.length;
  const names: string[] = [];
  for (const line of lines.slice(start + 1)) {
    const heading = /^(#+)\s/.exec(line);
    if (heading && heading[1]!.length <= level) break;
    if (!line.trimStart().startsWith('|')) continue;
    const firstCell = line.trim().split('|')[1] ?? '';
    for (const m of firstCell.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) names.push(m[1]!);
  }
  return names;
}
