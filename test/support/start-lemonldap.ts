/**
 * A real LemonLDAP::NG 2.16 OpenID provider for integration tests: Debian's
 * portal (`llng-fastcgi-server`) behind nginx, on a free loopback port, with
 * everything (configuration, sessions, caches, logs, socket) in a temp dir.
 *
 * Users come from its Demo backend: dwho/dwho (groups timelords, users),
 * rtyler/rtyler, msmith/msmith; groups are released as a `groups` claim.
 * One confidential client (hex secret: LemonLDAP::NG does not URL-decode
 * Basic credentials) with PKCE required, RS256 ID tokens, refresh tokens,
 * short access tokens, consent and logout confirmation bypassed.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes, generateKeyPairSync } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DevClient } from '../../src/dev/dev-identity-provider.js';
import { findCommand, missingCommands, startDaemon, waitUntilAnswering, type Daemon } from './provider-process.js';
import { findFreePort } from './start-redis.js';

export const LEMONLDAP_USER = { username: 'dwho', password: 'dwho' } as const;
/** What the Demo backend puts in dwho's `groups`. */
export const LEMONLDAP_USER_GROUPS = ['timelords', 'users'] as const;

const PACKAGED_CONFIG = '/var/lib/lemonldap-ng/conf/lmConf-1.json';
const PORTAL_HTDOCS = '/usr/share/lemonldap-ng/portal/htdocs';
const TEMPLATES = '/usr/share/lemonldap-ng/portal/templates';
const SESSIONS_CLI = '/usr/share/lemonldap-ng/bin/lemonldap-ng-sessions';
const START_TIMEOUT_MS = 30_000;

/** Why the LemonLDAP::NG tests cannot run here, or undefined when they can. */
export function lemonldapMissing(): string | undefined {
  const missing = missingCommands('llng-fastcgi-server', 'nginx');
  if (!existsSync(PACKAGED_CONFIG)) missing.push(PACKAGED_CONFIG);
  return missing.length ? `not installed: ${missing.join(', ')} (Debian packages lemonldap-ng, lemonldap-ng-fastcgi-server, nginx)` : undefined;
}

export interface StartLemonldapOptions {
  /** Registered at start-up: this provider's configuration is not changed while it runs. */
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  /** Access-token lifetime (default 60 s). */
  accessTokenTtlSeconds?: number;
}

export interface LemonldapProvider {
  /** `http://127.0.0.1:<port>/` (with the slash: LemonLDAP::NG's issuer is its portal URL). */
  readonly issuer: string;
  readonly url: string;
  client: DevClient;
  readonly accessTokenTtlSeconds: number;
  /** Only checks that the change is already registered (the client is configured at start-up). */
  updateClient(change: Partial<Omit<DevClient, 'client_id'>>): Promise<void>;
  /**
   * Deletes every refresh token from its session store with its own CLI
   * (`lemonldap-ng-sessions delete`), as its purge does to expired ones.
   */
  deleteRefreshTokens(): Promise<void>;
  /** The portal's and nginx's logs. */
  logs(): string;
  /** Stops nginx and the FastCGI server (and their workers) by PID, removes the temp dir. Idempotent. */
  close(): Promise<void>;
}

export async function startLemonldap(options: StartLemonldapOptions): Promise<LemonldapProvider> {
  const missing = lemonldapMissing();
  if (missing) throw new Error(`LemonLDAP::NG ${missing}`);
  const dir = mkdtempSync(join(tmpdir(), 'oidc-bff-lemonldap-'));
  const port = await findFreePort();
  const url = `http://127.0.0.1:${port}`;
  const accessTokenTtlSeconds = options.accessTokenTtlSeconds ?? 60;
  const client: DevClient = {
    client_id: 'bffclient',
    client_secret: randomBytes(16).toString('hex'),
    redirect_uris: [...options.redirectUris],
    post_logout_redirect_uris: [...options.postLogoutRedirectUris],
  };

  for (const sub of ['conf', 'sessions/lock', 'psessions/lock', 'cache', 'nginx']) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, 'conf', 'lmConf-1.json'), JSON.stringify(portalConfig({ dir, url, client, accessTokenTtlSeconds }), null, 1));
  writeFileSync(join(dir, 'lemonldap-ng.ini'), iniFile(dir));
  const socket = join(dir, 'portal.sock');
  // The portal refuses to run as root; under root both it and nginx's workers become www-data.
  const runAs = process.getuid?.() === 0 ? 'www-data' : undefined;
  writeFileSync(join(dir, 'nginx.conf'), nginxConfig({ dir, port, socket, runAs }));
  if (runAs) chownTree(dir, runAs);

  const daemons: Daemon[] = [];
  const close = async (): Promise<void> => {
    await Promise.all(daemons.map((d) => d.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    daemons.push(
      startDaemon(
        findCommand('llng-fastcgi-server')!,
        ['--foreground', '-s', socket, '-n', '1', '-p', join(dir, 'portal.pid'), ...(runAs ? ['-u', runAs, '-g', runAs] : [])],
        {
          env: {
            PATH: process.env['PATH'] ?? '/usr/bin:/bin',
            LLNG_DEFAULTCONFFILE: join(dir, 'lemonldap-ng.ini'),
            LLNG_DEFAULTLOGGER: 'Lemonldap::NG::Common::Logger::Std',
          },
          logFile: join(dir, 'portal.log'),
        },
      ),
    );
    daemons.push(startDaemon(findCommand('nginx')!, ['-e', join(dir, 'nginx', 'error.log'), '-c', join(dir, 'nginx.conf')], { logFile: join(dir, 'nginx', 'stdout.log') }));
    // Discovery answers once the portal has compiled and loaded its configuration.
    await waitUntilAnswering(
      `LemonLDAP::NG on ${url}`,
      async () => (await fetch(`${url}/.well-known/openid-configuration`)).status === 200,
      { timeoutMs: START_TIMEOUT_MS, daemons },
    );
  } catch (err) {
    const logs = readLogs(dir);
    await close();
    throw new Error(`${(err as Error).message}\n${logs}`);
  }

  let closing: Promise<void> | undefined;
  const provider: LemonldapProvider = {
    issuer: `${url}/`,
    url,
    client,
    accessTokenTtlSeconds,
    async updateClient(change) {
      const unknown = [...(change.redirect_uris ?? []), ...(change.post_logout_redirect_uris ?? [])].filter(
        (u) => !client.redirect_uris.includes(u) && !(client.post_logout_redirect_uris ?? []).includes(u),
      );
      if (unknown.length) throw new Error(`LemonLDAP::NG test client: register ${unknown.join(', ')} in startLemonldap()`);
    },
    async deleteRefreshTokens() {
      const result = spawnSync(
        SESSIONS_CLI,
        ['delete', '--backend', 'oidc', '--where', '_type=refresh_token', ...(runAs ? ['-u', runAs, '-g', runAs] : ['-u', userName(), '-g', groupName()])],
        { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LLNG_DEFAULTCONFFILE: join(dir, 'lemonldap-ng.ini') }, encoding: 'utf8' },
      );
      if (result.status !== 0) throw new Error(`lemonldap-ng-sessions delete failed (${result.status}): ${result.stderr}`);
    },
    logs: () => readLogs(dir),
    close: () => (closing ??= close()),
  };
  return provider;
}

function userName(): string {
  return spawnSync('id', ['-un'], { encoding: 'utf8' }).stdout.trim();
}

function groupName(): string {
  return spawnSync('id', ['-gn'], { encoding: 'utf8' }).stdout.trim();
}

function portalConfig(input: { dir: string; url: string; client: DevClient; accessTokenTtlSeconds: number }): Record<string, unknown> {
  const { dir, url, client } = input;
  const template = JSON.parse(readFileSync(PACKAGED_CONFIG, 'utf8')) as Record<string, unknown>;
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  for (const key of ['applicationList', 'exportedHeaders', 'reloadUrls', 'locationRules']) delete template[key];
  return {
    ...template,
    cfgNum: 1,
    portal: `${url}/`,
    // Mandatory (it refuses to start without one); the test browser keeps cookies per host:port anyway.
    domain: '127.0.0.1',
    securedCookie: 0,
    locationRules: { '127.0.0.1': { default: 'accept' } },
    globalStorage: 'Apache::Session::File',
    globalStorageOptions: {
      Directory: join(dir, 'sessions'),
      LockDirectory: join(dir, 'sessions', 'lock'),
      generateModule: 'Lemonldap::NG::Common::Apache::Session::Generate::SHA256',
    },
    persistentStorage: 'Apache::Session::File',
    persistentStorageOptions: { Directory: join(dir, 'psessions'), LockDirectory: join(dir, 'psessions', 'lock') },
    // No local session cache: a session deleted from the store (deleteRefreshTokens) is gone at once.
    localSessionStorage: '',
    localSessionStorageOptions: {},
    // Off: each would load modules (mail, history) the test does not need.
    notification: 0,
    loginHistoryEnabled: 0,
    registerDB: 'Null',
    // The login form's own timeout must stay below the session timeout, or every form counts as expired.
    timeout: 7200,
    formTimeout: 120,
    issuerDBOpenIDConnectActivation: 1,
    oidcServicePrivateKeySig: privateKey,
    oidcServicePublicKeySig: publicKey,
    oidcServiceKeyIdSig: 'test-rs256',
    oidcServiceIgnoreScopeForClaims: 1,
    oidcRPMetaDataOptions: {
      bff: {
        oidcRPMetaDataOptionsClientID: client.client_id,
        oidcRPMetaDataOptionsClientSecret: client.client_secret,
        oidcRPMetaDataOptionsPublic: 0,
        oidcRPMetaDataOptionsRedirectUris: client.redirect_uris.join(' '),
        oidcRPMetaDataOptionsPostLogoutRedirectUris: (client.post_logout_redirect_uris ?? []).join(' '),
        // A new client defaults to HS512.
        oidcRPMetaDataOptionsIDTokenSignAlg: 'RS256',
        oidcRPMetaDataOptionsRequirePKCE: 1,
        oidcRPMetaDataOptionsRefreshToken: 1,
        oidcRPMetaDataOptionsAccessTokenExpiration: input.accessTokenTtlSeconds,
        oidcRPMetaDataOptionsBypassConsent: 1,
        oidcRPMetaDataOptionsLogoutBypassConfirm: 1,
        oidcRPMetaDataOptionsIDTokenForceClaims: 1,
      },
    },
    oidcRPMetaDataExportedVars: {
      bff: { email: 'mail', name: 'cn', preferred_username: 'uid', groups: 'groups;string;always' },
    },
    oidcRPMetaDataOptionsExtraClaims: { bff: { groups: 'groups' } },
  };
}

function iniFile(dir: string): string {
  return [
    '[all]',
    'logLevel = notice',
    'checkTime = 1',
    '[configuration]',
    'type = File',
    `dirName = ${join(dir, 'conf')}`,
    'localStorage = Cache::FileCache',
    `localStorageOptions = { 'namespace' => 'lemonldap-ng-config', 'default_expires_in' => 600, 'directory_umask' => '007', 'cache_root' => '${join(dir, 'cache')}', 'cache_depth' => 3 }`,
    '[portal]',
    'staticPrefix = /static',
    `templateDir = ${TEMPLATES}`,
    'languages = en',
    '',
  ].join('\n');
}

/** The packaged portal site (portal-nginx.conf), trimmed to one loopback listener and self-contained. */
function nginxConfig(input: { dir: string; port: number; socket: string; runAs: string | undefined }): string {
  const { dir, port, socket, runAs } = input;
  const temp = (name: string) => join(dir, 'nginx', name);
  return `daemon off;
${runAs ? `user ${runAs} ${runAs};` : ''}
worker_processes 1;
pid ${temp('nginx.pid')};
error_log ${temp('error.log')} warn;
events { worker_connections 128; }
http {
  include /etc/nginx/mime.types;
  access_log off;
  client_body_temp_path ${temp('body')};
  fastcgi_temp_path ${temp('fastcgi')};
  proxy_temp_path ${temp('proxy')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
  server {
    listen 127.0.0.1:${port};
    root ${PORTAL_HTDOCS}/;
    if ($uri !~ ^/((static|javascript|favicon).*|.*\\.psgi)) {
      rewrite ^/(.*)$ /index.psgi/$1 break;
    }
    location ~ ^(?<sc>/.*\\.psgi)(?:$|/) {
      include /etc/nginx/fastcgi_params;
      fastcgi_pass unix:${socket};
      fastcgi_param LLTYPE psgi;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
      fastcgi_split_path_info ^(.*\\.psgi)(/.*)$;
      fastcgi_param PATH_INFO $fastcgi_path_info;
    }
    location /static/ { alias ${PORTAL_HTDOCS}/static/; }
    location /javascript/ { alias /usr/share/javascript/; }
  }
}
`;
}

function chownTree(dir: string, user: string): void {
  const id = (flag: string) => Number(spawnSync('id', [flag, user], { encoding: 'utf8' }).stdout.trim());
  const [uid, gid] = [id('-u'), id('-g')];
  const walk = (path: string): void => {
    chownSync(path, uid, gid);
    if (statSync(path).isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry));
  };
  walk(dir);
}

function readLogs(dir: string): string {
  const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-40).join('\n') : '');
  return `--- portal log ---\n${read(join(dir, 'portal.log'))}\n--- nginx error log ---\n${read(join(dir, 'nginx', 'error.log'))}`;
}
