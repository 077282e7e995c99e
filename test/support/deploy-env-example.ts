/**
 * Renders .env.example from envSchema, so the file can never drift from the
 * source of truth. test/unit/deploy/env-example.test.ts compares the committed
 * file with this rendering; after changing src/config/env-schema.ts, refresh it:
 *
 *   npx tsx test/support/deploy-env-example.ts --write
 */
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { envSchema, envVarNames, type EnvVarSpec } from '../../src/config/env-schema.js';
import { repoPath } from './deploy-files.js';

const GROUP_TITLES: Record<EnvVarSpec['group'], string> = {
  server: 'Server',
  oidc: 'OpenID Connect provider',
  session: 'Sessions',
  redis: 'Redis session store',
  proxy: 'Reverse proxy',
  security: 'Security',
  ops: 'Operations',
};

const HEADER = `# oidc-bff configuration: every variable the gateway reads.
# Rendered from src/config/env-schema.ts (the source of truth) by
# test/support/deploy-env-example.ts and checked by test/unit/deploy.
# Copy to .env for a local run (node --env-file=.env --import ./dist/ops/otel-register.js dist/main.js);
# never commit .env.
#
# Tracing is configured by the standard OTEL_* variables, which the OpenTelemetry
# SDK reads itself (docs/operations.md, Tracing): off unless an endpoint is set, e.g.
# OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318
#
# Values shown are the defaults. An empty value means "unset": the gateway
# treats blank and missing alike. [required] variables have no default;
# [secret] ones belong in a secret store, never in an image or in git.
`;

/** A dotenv value, double-quoted when it holds whitespace (shells and Docker both accept that). */
function toDotenvValue(value: string): string {
  return /\s/.test(value) ? `"${value}"` : value;
}

/** The text .env.example must hold. */
export function renderEnvExample(): string {
  let out = HEADER;
  let group: string | undefined;
  for (const name of envVarNames) {
    const spec: EnvVarSpec = envSchema[name];
    if (spec.group !== group) {
      group = spec.group;
      out += `\n# === ${GROUP_TITLES[spec.group]} ===\n`;
    }
    const tags = [spec.required ? '[required]' : '', spec.secret ? '[secret]' : ''].filter(Boolean).join(' ');
    out += `# ${tags ? `${tags} ` : ''}${spec.description}\n`;
    out += `${name}=${toDotenvValue(spec.default ?? '')}\n`;
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv.includes('--write')) {
  writeFileSync(repoPath('.env.example'), renderEnvExample());
  console.log('wrote .env.example');
}
