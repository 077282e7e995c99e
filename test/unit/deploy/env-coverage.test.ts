/**
 * CONTRACT.md: ".env.example, the README, the compose file and the Helm chart
 * list every variable the config module reads; a variable added by later work
 * joins all four." envSchema (src/config/env-schema.ts) is that list. Adding a
 * variable there fails these tests, naming each file that lacks it; removing
 * one fails them for each file that still lists it.
 */
import { describe, expect, it } from 'vitest';
import { envVarNames } from '../../../src/config/env-schema.js';
import { loadComposeFile, rawEnvironment } from '../../support/deploy-compose.js';
import { getPath, parseDotenv, readmeConfigurationNames, readRepoFile, repoFileExists } from '../../support/deploy-files.js';
import { loadChartSchema, loadChartValues } from '../../support/deploy-helm.js';
import { loadK8sObjects } from '../../support/deploy-k8s.js';

const sources: [string, () => string[]][] = [
  ['.env.example', () => [...parseDotenv(readRepoFile('.env.example')).keys()]],
  ['docker-compose.yml (gateway environment)', () => Object.keys(rawEnvironment(loadComposeFile().services.gateway!))],
  [
    'helm/oidc-bff/values.yaml (config + secrets.env)',
    () => {
      const values = loadChartValues();
      return [...Object.keys(values.config as object), ...Object.keys(getPath(values, 'secrets.env') as object)];
    },
  ],
  [
    'helm/oidc-bff/values.schema.json (config + secrets.env)',
    () => {
      const schema = loadChartSchema();
      return [
        ...Object.keys(getPath(schema, 'properties.config.properties') as object),
        ...Object.keys(getPath(schema, 'properties.secrets.properties.env.properties') as object),
      ];
    },
  ],
  [
    'k8s/ ConfigMap + Secret',
    () =>
      loadK8sObjects()
        .filter((o) => o.name === 'oidc-bff' && (o.kind === 'ConfigMap' || o.kind === 'Secret'))
        .flatMap((o) => Object.keys((o.body.data ?? o.body.stringData ?? {}) as object)),
  ],
];

describe.each(sources)('%s', (_, names) => {
  it('lists every envSchema variable', () => {
    const listed = new Set(names());
    expect(envVarNames.filter((n) => !listed.has(n)), 'missing').toEqual([]);
  });

  it('lists nothing envSchema lacks, and nothing twice', () => {
    const known = new Set<string>(envVarNames);
    const list = names();
    expect(list.filter((n) => !known.has(n)), 'unknown').toEqual([]);
    expect(list.filter((n, i) => list.indexOf(n) !== i), 'duplicated').toEqual([]);
  });
});

describe('README.md configuration table', () => {
  const present = repoFileExists('README.md');

  it.skipIf(!present)('lists exactly the envSchema variables (skipped while README.md is absent: it is written elsewhere)', () => {
    const names = readmeConfigurationNames(readRepoFile('README.md'));
    const known = new Set<string>(envVarNames);
    expect(envVarNames.filter((n) => !names.includes(n)), 'missing').toEqual([]);
    expect(names.filter((n) => !known.has(n)), 'unknown').toEqual([]);
  });

  it('reads names from the first cell of the table under a Configuration heading', () => {
    const sample = [
      '# x',
      '## Configuration',
      '| variable | default |',
      '|---|---|',
      '| `PORT` | `3000` |',
      '| `REDIS_SENTINELS`, `REDIS_SENTINEL_NAME` | unset, `NOT_A_NAME_CELL` |',
      '## Next',
      '| `OTHER` | x |',
    ].join('\n');
    expect(readmeConfigurationNames(sample)).toEqual(['PORT', 'REDIS_SENTINELS', 'REDIS_SENTINEL_NAME']);
  });
});
