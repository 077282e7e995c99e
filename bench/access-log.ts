import { readFileSync, truncateSync } from 'node:fs';

/**
 * What a gateway at LOG_LEVEL=info wrote to its log file during one run: the
 * bench empties the file before each run and counts its lines after, to show
 * that every request was logged (about one line per answered request).
 */
export function emptyLog(file: string): void {
  truncateSync(file, 0);
}

export function logLines(file: string): { lines: number; bytes: number } {
  const text = readFileSync(file);
  let lines = 0;
  for (let i = text.indexOf(10); i !== -1; i = text.indexOf(10, i + 1)) lines += 1;
  return { lines, bytes: text.length };
}
