/**
 * The failures, one after the other, each in a slot of its own with recovery
 * until the next: the timeline is tagged with the event from its start until
 * the next event starts, so every answer is attributed to the failure it
 * lived through (or to its recovery).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Topology } from './soak-topology.js';
import type { EventSpan, Timeline } from './timeline.js';

export interface FaultEvent {
  readonly name: string;
  run(span: EventSpan): Promise<void>;
}

export interface FaultOptions {
  clientPauseMs: number;
  providerDownS: number;
  /** Which replica (1-based) is SIGKILLed. */
  killReplica: number;
}

export function faultEvents(topology: Topology, options: FaultOptions): FaultEvent[] {
  const { redis, gateways, haproxy, idp } = topology;
  return [
    {
      name: 'sentinel failover',
      async run(span) {
        const before = await topology.master();
        await redis.sentinelCli('SENTINEL', 'FAILOVER', redis.masterName);
        await waitUntil('the replica promoted', async () => {
          const now = await topology.master();
          return now !== before && (await now.cli('ROLE')).startsWith('master');
        });
        // Over once the old master follows the new one again.
        await waitUntil('the old master replicating', async () => (await before.cli('INFO', 'replication')).includes('master_link_status:up'));
        span.notes.push(`master ${before.port} → ${(await topology.master()).port}`);
      },
    },
    {
      name: `CLIENT PAUSE ${options.clientPauseMs / 1000} s`,
      async run(span) {
        const master = await topology.master();
        await master.cli('CLIENT', 'PAUSE', String(options.clientPauseMs), 'ALL');
        span.notes.push(`master ${master.port} paused`);
        await sleep(options.clientPauseMs);
      },
    },
    {
      name: `replica ${options.killReplica} SIGKILL`,
      async run(span) {
        await gateways.killAndRestart(options.killReplica - 1, haproxy);
        span.notes.push('restarted in its slot, back in HAProxy rotation');
      },
    },
    {
      name: 'rolling restart',
      async run(span) {
        await gateways.rollingRestart(haproxy, (step) => span.notes.push(step));
      },
    },
    {
      name: `provider down ${options.providerDownS} s`,
      async run(span) {
        // A graceful stop (Keycloak's shutdown answers what it has started): cutting refreshes in flight would
        // lose tokens the provider had already rotated, which no client can recover (docs/reliability.md).
        await idp.stopListening({ graceful: true });
        await sleep(options.providerDownS * 1000);
        await idp.startListening();
        span.notes.push('graceful stop; same port, keys and grants');
      },
    },
  ];
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

export interface Schedule {
  warmupS: number;
  /** Seconds from one event's start to the next's (at least the event plus minRecoveryS). */
  slotS: number;
  minRecoveryS: number;
}

export async function injectFaults(events: readonly FaultEvent[], timeline: Timeline, schedule: Schedule, log: (line: string) => void): Promise<void> {
  await sleep(schedule.warmupS * 1000);
  for (const event of events) {
    const span = timeline.begin(event.name);
    log(`event: ${event.name}`);
    await event.run(span);
    span.actionEnd = Date.now();
    log(`event: ${event.name} done in ${((span.actionEnd - span.start) / 1000).toFixed(1)} s ${span.notes.join('; ')}`);
    const nextAt = Math.max(span.start + schedule.slotS * 1000, span.actionEnd + schedule.minRecoveryS * 1000);
    await sleep(nextAt - Date.now());
  }
}
