/** Drives a planned Sentinel failover in tests: SENTINEL FAILOVER, then the demoted master's resync. */
import type { RedisSentinelSetup } from './start-redis.js';
import { waitFor } from './wait-for.js';

/** Fails over to the other data node; resolves once the Sentinels name it. */
export async function failOver(setup: RedisSentinelSetup): Promise<{ from: number; to: number }> {
  const port = async () => Number((await setup.sentinelCli('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', setup.masterName)).split('\n')[1]);
  const from = await port();
  const to = from === setup.master.port ? setup.replica.port : setup.master.port;
  // Refused (NOGOODSLAVE) until the Sentinels have seen the replica healthy.
  await waitFor(async () => /^OK/.test(await setup.sentinelCli('SENTINEL', 'FAILOVER', setup.masterName).catch((e: Error) => e.message)), {
    what: 'Sentinel to accept SENTINEL FAILOVER',
    timeoutMs: 30_000,
    intervalMs: 500,
  });
  await waitFor(async () => (await port()) === to, { what: 'Sentinel to name the replica as master', timeoutMs: 30_000 });
  return { from, to };
}

/** Waits until the demoted master has resynchronised from the new one: what only it had is gone then. */
export async function demotedResynced(setup: RedisSentinelSetup, fromPort: number): Promise<void> {
  const demoted = fromPort === setup.master.port ? setup.master : setup.replica;
  // The demoted instance drops its clients while it is reconfigured (a reset connection is "not yet", not a failure).
  const replication = () => demoted.cli('INFO', 'replication').catch(() => '');
  await waitFor(async () => /role:slave[\s\S]*master_link_status:up/.test(await replication()), {
    what: 'the old master to resync as a replica',
    timeoutMs: 60_000,
  });
}
