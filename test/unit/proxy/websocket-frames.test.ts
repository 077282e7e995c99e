import { describe, expect, it } from 'vitest';
import { closeFrame, createFrameTracker } from '../../../src/proxy/websocket-frames.js';

/** One frame as RFC 6455 §5.2 lays it out (payload left unmasked: the tracker never reads it). */
function frame(opcode: number, payloadLength: number, masked: boolean): Buffer {
  const parts: Buffer[] = [];
  const second = masked ? 0x80 : 0;
  if (payloadLength < 126) parts.push(Buffer.from([0x80 | opcode, second | payloadLength]));
  else if (payloadLength < 65536) {
    const head = Buffer.from([0x80 | opcode, second | 126, 0, 0]);
    head.writeUInt16BE(payloadLength, 2);
    parts.push(head);
  } else {
    const head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = second | 127;
    head.writeBigUInt64BE(BigInt(payloadLength), 2);
    parts.push(head);
  }
  if (masked) parts.push(Buffer.from([1, 2, 3, 4]));
  parts.push(Buffer.alloc(payloadLength, 0x2a));
  return Buffer.concat(parts);
}

/** Feeds `bytes` in pieces of `size` and records where frame boundaries fell. */
function boundariesOf(bytes: Buffer, size: number): number[] {
  const tracker = createFrameTracker();
  const seen: number[] = [];
  for (let offset = 0; offset < bytes.length; offset += size) {
    const piece = bytes.subarray(offset, offset + size);
    let at = 0;
    while (at < piece.length) {
      // Up to the next boundary; already at one, it stops at once: then take the next header's first byte.
      at += tracker.advance(piece.subarray(at), true) || tracker.advance(piece.subarray(at, at + 1));
      if (tracker.atBoundary) seen.push(offset + at);
    }
  }
  return seen;
}

describe('createFrameTracker', () => {
  const frames = [frame(0x1, 5, true), frame(0x2, 300, true), frame(0x2, 70_000, false), frame(0x9, 0, true), frame(0x1, 125, false)];
  const stream = Buffer.concat(frames);
  const expected = frames.reduce<number[]>((ends, f) => [...ends, (ends.at(-1) ?? 0) + f.length], []);

  it.each([1, 2, 3, 7, 13, 4096, stream.length])('finds every frame end when fed %i bytes at a time', (size) => {
    expect(boundariesOf(stream, size)).toEqual(expected);
  });

  it('knows when it is between frames and when a close went by', () => {
    const tracker = createFrameTracker();
    expect(tracker.atBoundary).toBe(true);
    const text = frame(0x1, 10, true);
    tracker.advance(text.subarray(0, 4));
    expect(tracker.atBoundary).toBe(false);
    tracker.advance(text.subarray(4));
    expect(tracker.atBoundary).toBe(true);
    expect(tracker.sawClose).toBe(false);
    tracker.advance(closeFrame(1000, 'bye', true));
    expect(tracker.sawClose).toBe(true);
    expect(tracker.atBoundary).toBe(true);
  });

  it('stops at the end of the frame in flight when asked to', () => {
    const tracker = createFrameTracker();
    const both = Buffer.concat([frame(0x1, 10, false), frame(0x1, 10, false)]);
    tracker.advance(both.subarray(0, 5));
    expect(tracker.advance(both.subarray(5), true)).toBe(12 - 5);
    expect(tracker.advance(both.subarray(12), true)).toBe(0);
  });
});

describe('closeFrame', () => {
  it('builds an unmasked close for the browser', () => {
    expect(closeFrame(1008, 'session ended', false)).toEqual(Buffer.concat([Buffer.from([0x88, 15, 0x03, 0xf0]), Buffer.from('session ended')]));
  });

  it('masks the close it sends upstream, as a client must', () => {
    const masked = closeFrame(1001, 'going away', true);
    expect(masked[0]).toBe(0x88);
    expect(masked[1]).toBe(0x80 | 12);
    const key = masked.subarray(2, 6);
    const payload = Buffer.from(masked.subarray(6).map((byte, i) => byte ^ key[i % 4]!));
    expect(payload.readUInt16BE(0)).toBe(1001);
    expect(payload.subarray(2).toString()).toBe('going away');
  });
});
