import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'routes-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs src/main.ts as operators run dist/main.js: environment in, exit code and stderr out. */
function runMain(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`main did not exit; stderr: ${stderr}`));
    }, 20_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('a bad ROUTES_FILE', () => {
  it('stops start-up with one clear line per problem, naming the route and the field', async () => {
    const file = join(dir, 'routes.yaml');
    writeFileSync(
      file,
      ['routes:', '  - prefix: /api', '    target: http://127.0.0.1:9', '    auth: sometimes', '  - prefix: /orders', '    target: http://127.0.0.1:9', '    token: { type: exchange }', ''].join('\n'),
    );
    const { code, stderr } = await runMain({ OIDC_ISSUER: 'https://kc.example/realms/x', OIDC_CLIENT_ID: 'bff', OIDC_CLIENT_SECRET: 's', ROUTES_FILE: file });
    expect(code).not.toBe(0);
    const lines = stderr.split('\n');
    expect(lines.filter((l) => l.includes(`ROUTES_FILE ${file}: route "/api" field auth: must be one of required, optional, none (got "sometimes")`))).toHaveLength(1);
    expect(lines.filter((l) => l.includes(`ROUTES_FILE ${file}: route "/orders" field token:`))).toHaveLength(1);
  });

  it('stops start-up on a step-up route without auth: required, naming the route and the field', async () => {
    const file = join(dir, 'step-up.yaml');
    writeFileSync(file, ['routes:', '  - prefix: /payments', '    target: http://127.0.0.1:9', '    auth: optional', '    acr: ["2"]', ''].join('\n'));
    const { code, stderr } = await runMain({ OIDC_ISSUER: 'https://kc.example/realms/x', OIDC_CLIENT_ID: 'bff', ROUTES_FILE: file });
    expect(code).not.toBe(0);
    const lines = stderr.split('\n');
    expect(lines.filter((l) => l.includes(`ROUTES_FILE ${file}: route "/payments" field acr: a step-up check needs auth: required (got auth: optional)`))).toHaveLength(1);
  });

  it('stops start-up when the file is missing', async () => {
    const { code, stderr } = await runMain({ OIDC_ISSUER: 'https://kc.example/realms/x', OIDC_CLIENT_ID: 'bff', ROUTES_FILE: join(dir, 'nope.yaml') });
    expect(code).not.toBe(0);
    expect(stderr).toContain(`ROUTES_FILE ${join(dir, 'nope.yaml')}: cannot be read`);
  });
});
