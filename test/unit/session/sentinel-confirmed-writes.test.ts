/**
 * The decisions of the confirmed writes, each on scripted nodes: the real
 * failover is test/integration/redis-sentinel-refresh-failover.test.ts.
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createConfirmedWrites } from '../../../src/session/sentinel-confirmed-writes.js';

interface Node {
  name: string;
  replid: string;
  /** Replicas attached, per INFO call (the last one repeats). */
  attached: number[];
  /** WAIT answers, in order (the last one repeats). */
  acks: number[];
  calls: string[];
}

function node(name: string, script: Partial<Node> = {}): Node & { conn: Redis } {
  const n: Node = { name, replid: `${name}-replid`, attached: [1], acks: [1], calls: [], ...script };
  const next = (xs: number[]) => (xs.length > 1 ? xs.shift()! : xs[0]!);
  const conn = {
    info: async () => {
      n.calls.push('INFO');
      return `# Replication\r\nrole:master\r\nconnected_slaves:${next(n.attached)}\r\nmaster_replid:${n.replid}\r\n`;
    },
    wait: async () => {
      n.calls.push('WAIT');
      return next(n.acks);
    },
  } as unknown as Redis;
  return Object.assign(n, { conn });
}

function setup(pool: ReturnType<typeof node>, successors: Record<string, ReturnType<typeof node>> = {}) {
  const byAddress = new Map(Object.values(successors).map((s) => [s.name, s]));
  return createConfirmedWrites({
    connections: [pool.conn],
    connectTo: ({ host }) => byAddress.get(host)!.conn,
    probe: { successorOf: async (replid) => (successors[replid] ? { host: successors[replid].name, port: 6379 } : undefined) },
    waitTimeoutMs: 10,
    followForMs: 2_000,
  });
}

const writeOn = (nodes: ReturnType<typeof node>[]) => async (conn: Redis) => {
  const n = nodes.find((x) => x.conn === conn)!;
  n.calls.push('WRITE');
  return n.name;
};

describe('confirmed writes', () => {
  it('returns once a replica acknowledged the write', async () => {
    const m = node('m');
    const result = await setup(m).run(writeOn([m]));
    expect(result.value).toBe('m');
    expect(m.calls).toEqual(['WRITE', 'INFO', 'WAIT']);
  });

  it('waits again while a replica is attached but behind', async () => {
    const m = node('m', { acks: [0, 0, 1] });
    await setup(m).run(writeOn([m]));
    expect(m.calls).toEqual(['WRITE', 'INFO', 'WAIT', 'INFO', 'WAIT', 'INFO', 'WAIT']);
  });

  it('lets the write stand, without WAIT, when no replica is attached and none was promoted (the replica is down)', async () => {
    const m = node('m', { attached: [0] });
    const result = await setup(m).run(writeOn([m]));
    expect(result.value).toBe('m');
    expect(m.calls).toEqual(['WRITE', 'INFO']);
  });

  it('writes again on the replica promoted from this master, and hands that connection to the rest of the flight', async () => {
    const m = node('m', { attached: [0] });
    const r = node('r', { attached: [0] });
    const result = await setup(m, { 'm-replid': r }).run(writeOn([m, r]));
    expect(result).toEqual({ value: 'r', conn: r.conn });
    expect(m.calls).toEqual(['WRITE', 'INFO']);
    expect(r.calls).toEqual(['WRITE', 'INFO']);
  });

  it('moves to the promoted replica when the old master refuses writes without a replica (NOREPLICAS)', async () => {
    const m = node('m', { attached: [0] });
    const r = node('r', { attached: [0] });
    const write = async (conn: Redis) => {
      if (conn === m.conn) throw Object.assign(new Error('NOREPLICAS Not enough good replicas to write.'), { name: 'ReplyError' });
      return 'r';
    };
    expect((await setup(m, { 'm-replid': r }).run(write)).value).toBe('r');
  });

  it('passes NOREPLICAS on when no replica was promoted: the operator chose refusal', async () => {
    const m = node('m', { attached: [0] });
    const write = async () => {
      throw Object.assign(new Error('NOREPLICAS Not enough good replicas to write.'), { name: 'ReplyError' });
    };
    await expect(setup(m).run(write)).rejects.toThrow(/^NOREPLICAS/);
  });

  it('confirms nothing when the write wrote nothing (a lock someone else holds)', async () => {
    const m = node('m', { attached: [0] });
    const result = await setup(m).run(async () => false, { wrote: (taken) => taken });
    expect(result.value).toBe(false);
    expect(m.calls).toEqual([]);
  });

  it('makes a write again whose connection failed, up to the deadline', async () => {
    const m = node('m');
    let attempts = 0;
    const write = async (_conn: Redis, attempt: number) => {
      attempts = attempt;
      if (attempt < 3) throw new Error('Command timed out');
      return 'done';
    };
    expect((await setup(m).run(write)).value).toBe('done');
    expect(attempts).toBe(3);
  });
});
