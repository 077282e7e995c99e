import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = new URL('../../../', import.meta.url).pathname;
// Inside the repository, so the unpacked package finds its dependencies in our node_modules.
const FRESH = `${ROOT}test-artifacts/packed-import`;

interface PackEntry {
  filename: string;
  files: { path: string }[];
}

async function pack(args: string[]): Promise<PackEntry> {
  const { stdout } = await run('npm', ['pack', '--json', ...args], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  // npm prints the prepack build's output before the JSON.
  return (JSON.parse(stdout.slice(stdout.indexOf('[\n'))) as PackEntry[])[0]!;
}

describe('the packed tarball', () => {
  afterAll(() => rm(FRESH, { recursive: true, force: true }));

  it('ships the built library with its types, and no tests, sources or dev identity provider', async () => {
    // --dry-run still runs prepack (the build), so the list is that of a fresh dist/.
    const { files } = await pack(['--dry-run']);
    const paths = files.map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/main.js', 'dist/create-bff.d.ts']));
    const unwanted = paths.filter((p) => /^(src|test|bench|examples|deploy|helm|k8s|docs)\//.test(p) || /^dist\/(dev\/|demo\.)/.test(p) || p.endsWith('.map'));
    expect(unwanted).toEqual([]);
  }, 180_000);

  it('imports from a fresh folder as `oidc-bff` and validates its config object like the environment', async () => {
    await rm(FRESH, { recursive: true, force: true });
    await mkdir(`${FRESH}/node_modules/oidc-bff`, { recursive: true });
    const { filename } = await pack(['--ignore-scripts', '--pack-destination', FRESH]);
    await run('tar', ['-xzf', `${FRESH}/${filename}`, '-C', `${FRESH}/node_modules/oidc-bff`, '--strip-components=1']);
    await writeFile(
      `${FRESH}/check.mjs`,
      [
        "import { createBff, ConfigError } from 'oidc-bff';",
        'try { createBff({ OIDC_CLIENT_ID: "app", PORT: "x" }); } catch (err) {',
        '  console.log(JSON.stringify({ kind: typeof createBff, configError: err instanceof ConfigError, problems: err.problems }));',
        '}',
      ].join('\n'),
    );
    const { stdout } = await run('node', ['check.mjs'], { cwd: FRESH });
    expect(JSON.parse(stdout)).toEqual({
      kind: 'function',
      configError: true,
      problems: ['PORT must be a whole number (got "x")', 'OIDC_ISSUER is required'],
    });
  }, 60_000);
});
