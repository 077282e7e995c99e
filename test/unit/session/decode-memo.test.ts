import { describe, expect, it } from 'vitest';
import { memoizeDecode } from '../../../src/session/decode-memo.js';
import { createSessionRecordCodec, type SessionRecordCodec } from '../../../src/session/session-record-codec.js';
import { createTokenSealer } from '../../../src/session/token-sealer.js';
import { sampleRecord } from '../../support/session-store-contract.js';

const SECRET = 'decode-memo-test-secret-0123456789abcdef';

/** The real codec, counting how often it really decodes. */
function countingCodec() {
  const real = createSessionRecordCodec(createTokenSealer([SECRET]));
  const counted = { decodes: 0 };
  const codec: SessionRecordCodec = {
    encode: (r) => real.encode(r),
    decode: (id, json) => {
      counted.decodes += 1;
      return real.decode(id, json);
    },
  };
  return { codec, counted };
}

describe('memoizeDecode', () => {
  it('decodes the same stored bytes once and hands out one frozen record', async () => {
    const { codec, counted } = countingCodec();
    const memo = memoizeDecode(codec, 10);
    const record = sampleRecord(Date.now());
    const json = await memo.encode(record);

    const first = await memo.decode(record.id, json);
    const second = await memo.decode(record.id, `${json}`);
    expect(first).toEqual(record);
    expect(second).toBe(first);
    expect(counted.decodes).toBe(1);
    expect(Object.isFrozen(first?.tokens)).toBe(true);
  });

  it('sees a change made elsewhere at once: new bytes are decoded again', async () => {
    const { codec, counted } = countingCodec();
    const memo = memoizeDecode(codec, 10);
    const record = sampleRecord(Date.now());
    await memo.decode(record.id, await memo.encode(record));

    // Another replica refreshed: same session, new tokens, new bytes in Redis.
    const refreshed = { ...record, tokens: { ...record.tokens, access_token: 'rotated-access' } };
    const after = await memo.decode(record.id, await codec.encode(refreshed));
    expect(after?.tokens.access_token).toBe('rotated-access');
    expect(counted.decodes).toBe(2);
  });

  it('re-seals produce new bytes even for an unchanged record (fresh IV), so a rewrite is never mistaken for the old one', async () => {
    const { codec } = countingCodec();
    const record = sampleRecord(Date.now());
    expect(await codec.encode(record)).not.toBe(await codec.encode(record));
  });

  it('keeps no entry for bytes it cannot open, and stays within its bound', async () => {
    const { codec, counted } = countingCodec();
    const memo = memoizeDecode(codec, 2);
    expect(await memo.decode('x', '{"v":1,"tokens":"garbage"}')).toBeNull();
    expect(await memo.decode('x', '{"v":1,"tokens":"garbage"}')).toBeNull();
    expect(counted.decodes).toBe(2);

    const records = [sampleRecord(Date.now()), sampleRecord(Date.now()), sampleRecord(Date.now())];
    const stored = await Promise.all(records.map((r) => memo.encode(r)));
    for (const [i, r] of records.entries()) await memo.decode(r.id, stored[i]!);
    counted.decodes = 0;
    await memo.decode(records[2]!.id, stored[2]!); // still remembered
    await memo.decode(records[0]!.id, stored[0]!); // the oldest was dropped for the third
    expect(counted.decodes).toBe(1);
  });
});
