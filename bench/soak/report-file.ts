/**
 * Puts a run's report into docs/reliability.md between its markers
 * (`<!-- soak:NAME:start -->` … `<!-- soak:NAME:end -->`), leaving the
 * hand-written text around it alone, and writes the plot next to it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export function writeReportSection(reportFile: string, name: string, markdown: string): string | undefined {
  if (reportFile === 'none') return undefined;
  const file = resolve(ROOT, reportFile);
  const start = `<!-- soak:${name}:start -->`;
  const end = `<!-- soak:${name}:end -->`;
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    text = '# Reliability\n';
  }
  const section = `${start}\n${markdown.trim()}\n${end}`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  text = from !== -1 && to > from ? text.slice(0, from) + section + text.slice(to + end.length) : `${text.trimEnd()}\n\n${section}\n`;
  writeFileSync(file, text);
  return file;
}

/** Writes `content` next to the report; returns the name to link from it. */
export function writeBeside(reportFile: string, name: string, content: string): string {
  if (reportFile === 'none') return name;
  writeFileSync(join(dirname(resolve(ROOT, reportFile)), name), content);
  return name;
}
