/**
 * Real redis-server processes for integration tests: single (optionally TLS,
 * password, ACL user, AOF), Cluster and Sentinel. Each server lives in its own
 * temp dir on a free loopback port; every process is SIGKILLed when the test
 * process exits, even after a failure, and dies with it (setpriv --pdeathsig).
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor as pollUntil } from './wait-for.js';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface RedisServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** `redis://` or `rediss://`, with the credentials when the server has any. */
  readonly url: string;
  /** PEM of the CA that signed the server certificate (TLS servers only). */
  readonly caFile?: string;
  readonly dir: string;
  /** SIGTERM (SIGKILL after 5 s), then removes the temp dir. Final and idempotent. */
  stop(): Promise<void>;
  /** SIGKILL, keeping the data dir: for outages. */
  kill(): Promise<void>;
  /** Starts again on the same port with the same dir (terminating it first if it runs); resolves once it answers PING. */
  restart(): Promise<void>;
  /** Runs redis-cli against this server (with its TLS and credentials); resolves with trimmed stdout. */
  cli(...args: string[]): Promise<string>;
  /**
   * `cli` for a command that must answer OK (CLIENT PAUSE, ACL SETUSER, SETSLOT, FLUSHALL…): throws with the
   * reply otherwise. redis-cli exits 0 on an error reply, so a refused command would only surface later, as
   * a wait timing out.
   */
  ok(...args: string[]): Promise<void>;
}

export interface StartRedisOptions {
  tls?: boolean;
  /** `requirepass` (the default user's password). */
  password?: string;
  /** An ACL user with every permission; the default user is then switched off unless `password` is given. */
  aclUser?: { username: string; password: string };
  appendonly?: boolean;
  /** Extra redis.conf lines. */
  extraConfig?: readonly string[];
}

const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 15_000;

// --- process registry: nothing outlives the test process -------------------

const running = new Set<ChildProcess>();
const tempDirs = new Set<string>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

// PR_SET_PDEATHSIG makes the kernel kill redis-server when the thread that
// spawned it dies, which covers a vitest worker killed by a signal (no 'exit').
const pdeathsig = spawnSync('setpriv', ['--help'], { encoding: 'utf8' }).stdout?.includes('--pdeathsig') ?? false;

function spawnRedis(args: readonly string[]): ChildProcess {
  const child = pdeathsig
    ? spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', 'redis-server', ...args], { stdio: 'ignore' })
    : spawn('redis-server', [...args], { stdio: 'ignore' });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

async function terminate(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

function makeTempDir(kind: string): string {
  const dir = mkdtempSync(join(tmpdir(), `oidc-bff-${kind}-`));
  tempDirs.add(dir);
  return dir;
}

// --- free ports --------------------------------------------------------------

const handedOut = new Set<number>();
// Concurrent vitest workers (VITEST_POOL_ID 1..n) draw ports from disjoint residues mod 8, so a port
// one worker leaves free for a moment (a Redis killed to be restarted) is never handed to another
// worker's server, which restart() would then find answering PING in its place.
const POOL_SLOTS = 8;
const poolSlot = (Number(process.env['VITEST_POOL_ID']) || 0) % POOL_SLOTS;

function ephemeralPortRangeStart(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

async function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: HOST, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

async function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: HOST, port: 0, exclusive: true }, () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * A loopback port nobody listens on (and `port + 10000`, the Cluster bus, too
 * when asked). Picked below the kernel's ephemeral range and checked by binding
 * it: a port handed out by binding port 0 is an ephemeral one, which an
 * outgoing connection may take while a server is down, breaking restart().
 */
export async function findFreePort(opts: { withClusterBus?: boolean } = {}): Promise<number> {
  const low = 10_000;
  const high = ephemeralPortRangeStart() - (opts.withClusterBus ? 10_000 : 0);
  for (let attempt = 0; attempt < 200 && high - low > 100; attempt++) {
    const drawn = low + Math.floor(Math.random() * (high - low));
    const port = drawn - (drawn % POOL_SLOTS) + poolSlot; // the cluster bus (+10000) keeps the residue
    if (handedOut.has(port) || (opts.withClusterBus && handedOut.has(port + 10_000))) continue;
    if (!(await canBind(port)) || (opts.withClusterBus && !(await canBind(port + 10_000)))) continue;
    handedOut.add(port);
    if (opts.withClusterBus) handedOut.add(port + 10_000);
    return port;
  }
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await anyFreePort();
    if (!opts.withClusterBus || (port + 10_000 <= 65_535 && (await canBind(port + 10_000)))) return port;
  }
  throw new Error('no free loopback port found');
}

// --- TLS ---------------------------------------------------------------------

function run(cmd: string, args: readonly string[], opts: { input?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, [...args], { timeout: 20_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout.trim());
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** A throw-away CA and a server certificate for 127.0.0.1/localhost, signed by it. */
async function generateCertificates(dir: string): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const p = (name: string): string => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '2', '-subj', '/CN=oidc-bff test CA']);
  await run('openssl', ['req', '-new', ...ec, '-keyout', p('server.key'), '-out', p('server.csr'), '-subj', '/CN=localhost']);
  writeFileSync(p('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await run('openssl', [
    'x509', '-req', '-in', p('server.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial',
    '-out', p('server.crt'), '-days', '2', '-extfile', p('server.ext'),
  ]);
  return { caFile: p('ca.crt'), certFile: p('server.crt'), keyFile: p('server.key') };
}

// --- one server ----------------------------------------------------------------

interface ServerSpec {
  readonly kind: string;
  readonly withClusterBus?: boolean;
  readonly sentinel?: boolean;
  /** redis.conf lines except port, bind, dir and logging. */
  configLines(port: number, dir: string): Promise<string[]> | string[];
  readonly cliArgs: (dir: string) => string[];
  readonly url: (port: number) => string;
  readonly caFile?: (dir: string) => string;
}

async function startServer(spec: ServerSpec): Promise<RedisServer> {
  const dir = makeTempDir(spec.kind);
  let port = 0;
  let child: ChildProcess | undefined;
  let stopped = false;

  const cli = (...args: string[]): Promise<string> =>
    run('redis-cli', ['-h', HOST, '-p', String(port), '--no-auth-warning', ...spec.cliArgs(dir), ...args]);

  const writeConfig = async (): Promise<string> => {
    const file = join(dir, spec.sentinel ? 'sentinel.conf' : 'redis.conf');
    const lines = [`bind ${HOST}`, `dir ${dir}`, `logfile ${join(dir, 'redis.log')}`, 'daemonize no'];
    writeFileSync(file, `${[...lines, ...(await spec.configLines(port, dir))].join('\n')}\n`);
    return file;
  };

  const launch = async (configFile: string): Promise<void> => {
    child = spawnRedis(spec.sentinel ? [configFile, '--sentinel'] : [configFile]);
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`redis-server (${spec.kind}) on port ${port} exited at start-up:\n${logTail(dir)}`);
      }
      const pong = await cli('PING').catch(() => '');
      if (pong === 'PONG') {
        // The answer must come from the server just started, not from whoever took the port meanwhile.
        const pid = Number(/process_id:(\d+)/.exec(await cli('INFO', 'server'))?.[1]);
        if (pid === child.pid) return;
        throw new Error(`redis-server (${spec.kind}): port ${port} answered PING from another process (pid ${pid}); Address already in use`);
      }
      if (Date.now() > deadline) throw new Error(`redis-server (${spec.kind}) on port ${port} did not answer PING:\n${logTail(dir)}`);
      await sleep(50);
    }
  };

  // A port can be taken by another test process between the check and the
  // bind: then start again on another one.
  for (let attempt = 1; ; attempt++) {
    port = await findFreePort({ withClusterBus: spec.withClusterBus ?? false });
    const configFile = await writeConfig();
    try {
      await launch(configFile);
      break;
    } catch (err) {
      await terminate(child, 'SIGKILL');
      if (attempt >= 3 || !/Address already in use/i.test(String(err))) throw err;
    }
  }

  const caFile = spec.caFile?.(dir);
  return {
    host: HOST,
    port,
    url: spec.url(port),
    ...(caFile ? { caFile } : {}),
    dir,
    cli,
    async ok(...args) {
      const reply = await cli(...args);
      if (reply !== 'OK') throw new Error(`redis-cli ${args.join(' ')} on port ${port} answered "${reply}", not OK`);
    },
    async kill() {
      await terminate(child, 'SIGKILL');
    },
    async restart() {
      if (stopped) throw new Error('restart() after stop(): the server is gone');
      await terminate(child, 'SIGTERM');
      await launch(join(dir, spec.sentinel ? 'sentinel.conf' : 'redis.conf'));
    },
    async stop() {
      stopped = true;
      await terminate(child, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
    },
  };
}

function logTail(dir: string): string {
  const file = join(dir, 'redis.log');
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-15).join('\n') : '(no log)';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function urlWithCredentials(scheme: 'redis' | 'rediss', port: number, user?: string, password?: string): string {
  const auth = password ? `${user ? encodeURIComponent(user) : ''}:${encodeURIComponent(password)}@` : '';
  return `${scheme}://${auth}${HOST}:${port}`;
}

/** Starts one redis-server; resolves once it answers PING. */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  const { tls = false, password, aclUser, appendonly = false } = opts;
  const authArgs = aclUser
    ? ['--user', aclUser.username, '--pass', aclUser.password]
    : password
      ? ['--pass', password]
      : [];
  return startServer({
    kind: 'redis',
    configLines: async (port, dir) => {
      const lines = ['save ""', `appendonly ${appendonly ? 'yes' : 'no'}`, ...(opts.extraConfig ?? [])];
      if (tls) {
        const certs = await generateCertificates(dir);
        lines.push(
          'port 0',
          `tls-port ${port}`,
          `tls-cert-file ${certs.certFile}`,
          `tls-key-file ${certs.keyFile}`,
          `tls-ca-cert-file ${certs.caFile}`,
          'tls-auth-clients no',
        );
      } else {
        lines.push(`port ${port}`);
      }
      if (password) lines.push(`requirepass ${password}`);
      if (aclUser) {
        lines.push(`user ${aclUser.username} on >${aclUser.password} ~* &* +@all`);
        if (!password) lines.push('user default off');
      }
      return lines;
    },
    cliArgs: (dir) => [...(tls ? ['--tls', '--cacert', join(dir, 'ca.crt')] : []), ...authArgs],
    url: (port) => urlWithCredentials(tls ? 'rediss' : 'redis', port, aclUser?.username, aclUser?.password ?? password),
    ...(tls ? { caFile: (dir: string) => join(dir, 'ca.crt') } : {}),
  });
}

// --- Cluster -------------------------------------------------------------------

export interface RedisClusterSetup {
  /** Seed nodes (every node). */
  readonly nodes: readonly HostPort[];
  /** Every node as a server, masters first as created, for outages (kill/restart keep nodes.conf). */
  readonly servers: readonly RedisServer[];
  /** Resolves once every node reports cluster_state:ok and knows every other node. */
  waitUntilHealthy(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a Redis Cluster of `masters` masters, each with `replicasPerMaster`
 * replicas (none by default); resolves once cluster_state is ok everywhere. `aclUser` protects every node with that user
 * (the default user is switched off), as managed Cluster offerings do.
 */
export async function startRedisCluster(
  opts: {
    masters?: number;
    replicasPerMaster?: number;
    aclUser?: { username: string; password: string };
    extraConfig?: readonly string[];
  } = {},
): Promise<RedisClusterSetup> {
  const masters = opts.masters ?? 3;
  const replicas = opts.replicasPerMaster ?? 0;
  const total = masters * (1 + replicas);
  const { aclUser } = opts;
  const authArgs = aclUser ? ['--user', aclUser.username, '--pass', aclUser.password] : [];
  const servers: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    for (let i = 0; i < total; i++) {
      servers.push(
        await startServer({
          kind: 'cluster',
          withClusterBus: true,
          configLines: (port) => [
            `port ${port}`,
            'cluster-enabled yes',
            'cluster-config-file nodes.conf',
            // Short, so a restarted cluster agrees again within seconds.
            'cluster-node-timeout 2000',
            'save ""',
            'appendonly no',
            ...(aclUser ? [`user ${aclUser.username} on >${aclUser.password} ~* &* +@all`, 'user default off'] : []),
            ...(opts.extraConfig ?? []),
          ],
          cliArgs: () => authArgs,
          url: (port) => urlWithCredentials('redis', port, aclUser?.username, aclUser?.password),
        }),
      );
    }
    await run('redis-cli', [
      '--no-auth-warning', ...authArgs, '--cluster', 'create', ...servers.map((s) => `${HOST}:${s.port}`), '--cluster-replicas', String(replicas), '--cluster-yes',
    ]);
    const waitUntilHealthy = async (): Promise<void> => {
      await waitFor(`cluster_state:ok on ${total} nodes`, 30_000, async () => {
        const infos = await Promise.all(servers.map((s) => s.cli('CLUSTER', 'INFO').catch(() => '')));
        return infos.every((i) => i.includes('cluster_state:ok') && i.includes(`cluster_known_nodes:${total}`));
      });
    };
    await waitUntilHealthy();
    return { nodes: servers.map((s) => ({ host: HOST, port: s.port })), servers, waitUntilHealthy, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

// --- Sentinel ------------------------------------------------------------------

export interface RedisSentinelSetup {
  readonly masterName: string;
  readonly sentinels: readonly HostPort[];
  readonly master: RedisServer;
  readonly replica: RedisServer;
  /** Runs SENTINEL (or any command) against the first Sentinel. */
  sentinelCli(...args: string[]): Promise<string>;
  /** Waits until the replica has every write (WAIT 1 on a connection that just wrote), then SIGKILLs the master. */
  killMaster(): Promise<void>;
  stop(): Promise<void>;
}

const MASTER_NAME = 'mymaster';

/**
 * One master, one replica and three Sentinels (quorum 2, down after 1 s, short
 * failover timeout): killing the master fails over within a few seconds.
 * `password` protects the data nodes; `sentinelPassword` the Sentinels.
 */
export async function startRedisSentinel(
  opts: { password?: string; sentinelPassword?: string; /** down-after-milliseconds; default 1000 (fast tests). */ downAfterMs?: number } = {},
): Promise<RedisSentinelSetup> {
  const { password, sentinelPassword } = opts;
  const dataAuth = password ? [`requirepass ${password}`, `masterauth ${password}`] : [];
  const servers: RedisServer[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    const master = await startRedis({ ...(password ? { password } : {}) });
    servers.push(master);
    const replica = await startRedis({
      ...(password ? { password } : {}),
      extraConfig: [`replicaof ${HOST} ${master.port}`, ...dataAuth],
    });
    servers.push(replica);
    await waitFor('replica in sync', 15_000, async () =>
      (await replica.cli('INFO', 'replication')).includes('master_link_status:up'),
    );

    const sentinels: RedisServer[] = [];
    for (let i = 0; i < 3; i++) {
      const sentinel = await startServer({
        kind: 'sentinel',
        sentinel: true,
        configLines: (port) => [
          `port ${port}`,
          `sentinel monitor ${MASTER_NAME} ${HOST} ${master.port} 2`,
          `sentinel down-after-milliseconds ${MASTER_NAME} ${opts.downAfterMs ?? 1000}`,
          `sentinel failover-timeout ${MASTER_NAME} 5000`,
          `sentinel parallel-syncs ${MASTER_NAME} 1`,
          ...(password ? [`sentinel auth-pass ${MASTER_NAME} ${password}`] : []),
          // Sentinels talk to each other (failover votes) with sentinel-pass.
          ...(sentinelPassword ? [`requirepass ${sentinelPassword}`, `sentinel sentinel-pass ${sentinelPassword}`] : []),
        ],
        cliArgs: () => (sentinelPassword ? ['--pass', sentinelPassword] : []),
        url: (port) => urlWithCredentials('redis', port, undefined, sentinelPassword),
      });
      sentinels.push(sentinel);
      servers.push(sentinel);
    }
    // A failover needs the Sentinels to know each other (hello messages every
    // 2 s) and the replica: wait for both, or killMaster() would fail over nothing.
    await waitFor('sentinels know each other and the replica', 30_000, async () => {
      const views = await Promise.all(sentinels.map((s) => s.cli('SENTINEL', 'MASTER', MASTER_NAME).catch(() => '')));
      return views.every((v) => {
        const fields = pairs(v);
        return fields.get('num-other-sentinels') === '2' && fields.get('num-slaves') === '1' && fields.get('flags') === 'master';
      });
    });

    return {
      masterName: MASTER_NAME,
      sentinels: sentinels.map((s) => ({ host: HOST, port: s.port })),
      master,
      replica,
      sentinelCli: (...args) => sentinels[0]!.cli(...args),
      async killMaster() {
        // WAIT only waits for this connection's own writes, so write first on the same connection.
        const auth = password ? ['--pass', password] : [];
        const out = await run('redis-cli', ['-h', HOST, '-p', String(master.port), '--no-auth-warning', ...auth], {
          input: 'INCR bff:test:replication-mark\nWAIT 1 5000\n',
        });
        if (Number(out.split('\n').at(-1)) < 1) throw new Error(`replica did not acknowledge the writes: ${out}`);
        await master.kill();
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** redis-cli prints a flat key/value reply one item per line. */
function pairs(text: string): Map<string, string> {
  const lines = text.split('\n');
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < lines.length; i += 2) map.set(lines[i]!, lines[i + 1]!);
  return map;
}

function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  return pollUntil(check, { what, timeoutMs, intervalMs: 100 });
}
