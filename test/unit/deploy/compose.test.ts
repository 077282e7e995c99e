import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envVarNames } from '../../../src/config/env-schema.js';
import { loadConfig } from '../../../src/config/load-config.js';
import {
  durationSeconds,
  loadComposeFile,
  publishedPorts,
  rawEnvironment,
  resolvedCommand,
  resolvedEnvironment,
} from '../../support/deploy-compose.js';
import { hostPort, readRepoFile, repoFileExists, repoPath } from '../../support/deploy-files.js';

const compose = loadComposeFile();
const { services } = compose;
const gateway = services.gateway!;
const { env: gatewayEnv, unresolved } = resolvedEnvironment(gateway);
// The container sees the repo through the gateway's bind mounts (./demo/public:/app/public:ro).
const mounted = (containerPath: string) =>
  (gateway.volumes ?? []).flatMap((v) => {
    const [source, target] = v.split(':') as [string, string];
    return containerPath === target && source.startsWith('./') ? [source.slice(2)] : [];
  });
const config = loadConfig(gatewayEnv, {
  readFile: (p) => readRepoFile(p),
  isDirectory: (p) => mounted(p).some((source) => existsSync(repoPath(source))),
});

describe('docker-compose.yml', () => {
  it('runs keycloak, redis, gateway, nginx and api', () => {
    expect(Object.keys(services).sort()).toEqual(['api', 'gateway', 'keycloak', 'nginx', 'redis']);
  });

  it('builds the gateway from this repo and runs three replicas without fixed names', () => {
    expect(gateway.build).toBe('.');
    expect(gateway.deploy?.replicas).toBe(3);
    // A container_name would forbid more than one replica.
    expect(gateway.container_name).toBeUndefined();
  });

  it('publishes no gateway port: only nginx reaches it, and the admin port stays private', () => {
    expect(gateway.ports ?? []).toEqual([]);
  });

  it('gives the gateway every envSchema variable, each resolvable without a .env file', () => {
    expect(Object.keys(rawEnvironment(gateway)).sort()).toEqual([...envVarNames].sort());
    expect(unresolved).toEqual([]);
  });

  it("gives the gateway an environment its own loader accepts, in production mode with Redis", () => {
    expect(config.isProduction).toBe(true);
    expect(config.session.usingDevSecret).toBe(false);
    expect(config.redis?.topology.mode).toBe('single');
    expect(config.redis?.fallback).toBe('none');
    expect(config.trustProxy).toBe(true);
  });

  it('points the gateway at the redis service with the password redis requires', () => {
    const url = new URL(gatewayEnv.REDIS_URL!);
    expect(url.hostname).toBe('redis');
    const cmd = resolvedCommand(services.redis!);
    expect(cmd[cmd.indexOf('--requirepass') + 1]).toBe(gatewayEnv.REDIS_PASSWORD);
  });

  it('runs redis with AOF, a memory bound and noeviction', () => {
    const cmd = resolvedCommand(services.redis!);
    const arg = (flag: string) => cmd[cmd.indexOf(flag) + 1];
    expect(cmd[0]).toBe('redis-server');
    expect(arg('--appendonly')).toBe('yes');
    expect(arg('--appendfsync')).toBe('everysec');
    expect(arg('--maxmemory')).toMatch(/^\d+[kmg]b$/i);
    expect(arg('--maxmemory-policy')).toBe('noeviction');
    expect(services.redis!.image).toMatch(/^redis:7/);
  });

  it('routes /api to the echo service', () => {
    expect(config.proxy.routes.map((r) => [r.prefix, r.target.host])).toEqual([['/api', 'api:8080']]);
    expect(rawEnvironment(services.api!).HTTP_PORT).toBe('8080');
  });

  it('uses a public URL on the port nginx publishes', () => {
    const nginxPorts = publishedPorts(services.nginx!);
    expect(nginxPorts.map((p) => p.host)).toContain(hostPort(gatewayEnv.PUBLIC_URL!).port);
    expect(readRepoFile('deploy/nginx/nginx.conf')).toMatch(new RegExp(`listen\\s+${nginxPorts[0]!.container};`));
  });

  it('keeps the issuer browsers see stable and lets the gateway fetch discovery by service name', () => {
    const kcEnv = rawEnvironment(services.keycloak!);
    const kcPorts = publishedPorts(services.keycloak!);
    const issuer = hostPort(gatewayEnv.OIDC_ISSUER!);
    expect(new URL(gatewayEnv.OIDC_ISSUER!).origin).toBe(new URL(kcEnv.KC_HOSTNAME!).origin);
    expect(kcPorts).toContainEqual({ host: issuer.port, container: 8080 });
    expect(kcEnv.KC_HOSTNAME_BACKCHANNEL_DYNAMIC).toBe('true');
    const discovery = new URL(gatewayEnv.OIDC_DISCOVERY_URL!);
    expect(discovery.host).toBe('keycloak:8080');
    expect(discovery.pathname).toBe(`${new URL(gatewayEnv.OIDC_ISSUER!).pathname}/.well-known/openid-configuration`);
  });

  it('starts keycloak in dev mode with the demo realm imported', () => {
    const kc = services.keycloak!;
    expect(kc.image).toMatch(/^quay\.io\/keycloak\/keycloak:/);
    expect(resolvedCommand(kc)).toEqual(['start-dev', '--import-realm']);
    expect(kc.volumes).toContain('./deploy/keycloak/realm-demo.json:/opt/keycloak/data/import/realm-demo.json:ro');
  });

  it('serves the demo page at / from STATIC_DIR, so the login lands on a page', () => {
    expect(gateway.environment).toMatchObject({ STATIC_DIR: '/app/public' });
    expect(gateway.volumes).toContain('./demo/public:/app/public:ro');
    expect(repoFileExists('demo/public/index.html')).toBe(true);
  });

  it('mounts only files that exist in the repo', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const v of svc.volumes ?? []) {
        const source = v.split(':')[0]!;
        if (source.startsWith('./')) expect(repoFileExists(source.slice(2)), `${name}: ${source}`).toBe(true);
      }
    }
  });

  it('starts the gateway after healthy keycloak and redis, and nginx after healthy gateways', () => {
    expect(gateway.depends_on).toMatchObject({ keycloak: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } });
    expect(services.nginx!.depends_on).toMatchObject({ gateway: { condition: 'service_healthy' } });
  });

  it('lets a stopping gateway drain before docker kills it', () => {
    expect(durationSeconds(gateway.stop_grace_period ?? '10s')).toBeGreaterThan(config.shutdownTimeoutMs / 1000);
  });
});
