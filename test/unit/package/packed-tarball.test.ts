import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = new URL('../../../', import.meta.url).pathname;
// Inside the repository, so the unpacked package finds its dependencies in our node_modules.
const FRESH = `${ROOT}test-artifacts/packed-import`;
const TYPED = `${ROOT}test-artifacts/packed-types`;

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
  afterAll(() => Promise.all([FRESH, TYPED].map((dir) => rm(dir, { recursive: true, force: true }))));

  /** The packed tarball unpacked as `<dir>/node_modules/oidc-bff`, as npm install would place it. */
  async function unpackInto(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true });
    await mkdir(`${dir}/node_modules/oidc-bff`, { recursive: true });
    const { filename } = await pack(['--ignore-scripts', '--pack-destination', dir]);
    await run('tar', ['-xzf', `${dir}/${filename}`, '-C', `${dir}/node_modules/oidc-bff`, '--strip-components=1']);
  }

  it('ships the built library with its types, and no tests, sources or dev identity provider', async () => {
    // --dry-run still runs prepack (the build), so the list is that of a fresh dist/.
    const { files } = await pack(['--dry-run']);
    const paths = files.map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/main.js', 'dist/create-bff.d.ts']));
    const unwanted = paths.filter((p) => /^(src|test|bench|examples|deploy|helm|k8s|docs)\//.test(p) || /^dist\/(dev\/|demo\.)/.test(p) || p.endsWith('.map'));
    expect(unwanted).toEqual([]);
  }, 180_000);

  it('imports from a fresh folder as `oidc-bff` and validates its config object like the environment', async () => {
    await unpackInto(FRESH);
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

  it('type-checks a TypeScript host app against its .d.ts through the exports map (nodenext)', async () => {
    // The dist/ of this checkout, as the tests above built it (prepack); --ignore-scripts packs it as it is.
    await unpackInto(TYPED);
    await writeFile(`${TYPED}/package.json`, JSON.stringify({ type: 'module' }));
    await writeFile(
      `${TYPED}/tsconfig.json`,
      JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true }, files: ['host.ts'] }),
    );
    await writeFile(
      `${TYPED}/host.ts`,
      [
        "import Koa from 'koa';",
        "import { createBff, requiresAuth, sessionOf, type Bff, type BffSessionView, type BffState } from 'oidc-bff';",
        "const bff: Bff = createBff({ OIDC_ISSUER: 'https://id.example', OIDC_CLIENT_ID: 'app', PUBLIC_URL: 'https://app.example' });",
        'const app = new Koa<BffState>();',
        'app.use(bff.middleware);',
        'app.use(requiresAuth);',
        'app.use(async (ctx) => {',
        '  const session: BffSessionView | null = sessionOf(ctx);',
        '  const token: string = await ctx.state.bff.accessToken();',
        '  ctx.body = { user: session?.user, length: token.length };',
        '});',
        '// @ts-expect-error an unknown variable name is a type error, as it is a ConfigError at run time',
        'createBff({ OIDC_ISSUER: "https://id.example", NOT_A_SETTING: "x" });',
      ].join('\n'),
    );
    // Resolves koa's and pino's types from this repository's node_modules, above the folder.
    const tsc = new URL('../../../node_modules/typescript/bin/tsc', import.meta.url).pathname;
    await expect(run('node', [tsc, '-p', '.'], { cwd: TYPED })).resolves.toMatchObject({ stdout: '' });
  }, 60_000);
});
