import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = new URL('../../../src/', import.meta.url).pathname;

function importsOf(dir: string): { file: string; from: string }[] {
  return readdirSync(join(SRC, dir)).flatMap((file) =>
    [...readFileSync(join(SRC, dir, file), 'utf8').matchAll(/from '(\.[^']+)'/g)].map((m) => ({ file: `${dir}/${file}`, from: m[1]! })),
  );
}

describe('import direction', () => {
  it('ops/ imports nothing from http/ or proxy/ (http → ops is the only direction)', () => {
    const upward = importsOf('ops').filter((i) => /\/(http|proxy)\//.test(i.from));
    expect(upward).toEqual([]);
  });

  it('session/ knows neither HTTP nor OIDC', () => {
    const upward = importsOf('session').filter((i) => /\/(http|proxy|oidc|ops)\//.test(i.from));
    expect(upward).toEqual([]);
  });
});
