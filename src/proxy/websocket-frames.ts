import { randomBytes } from 'node:crypto';

const OPCODE_CLOSE = 0x8;
/** RFC 6455 §5.5: control frames carry at most 125 bytes; 2 of them are the status code. */
const MAX_CLOSE_REASON_BYTES = 123;

/**
 * Just enough of RFC 6455 §5.2 to relay WebSocket bytes untouched while
 * knowing where frames end. The proxy never decodes payloads (extensions and
 * subprotocols stay end to end), but the only place it may put a close frame
 * of its own is between two frames.
 */
export interface FrameTracker {
  /**
   * Moves over `chunk`. With `stopAtBoundary`, stops at the first frame
   * boundary (possibly at 0). Returns how many bytes of `chunk` it moved over.
   */
  advance(chunk: Buffer, stopAtBoundary?: boolean): number;
  /** True between two frames. */
  readonly atBoundary: boolean;
  /** True once a close frame went by: that side started the closing handshake. */
  readonly sawClose: boolean;
}

export function createFrameTracker(): FrameTracker {
  // The longest header: 2 bytes, 8 of extended length, 4 of masking key.
  const header = Buffer.alloc(14);
  let headerBytes = 0;
  let payloadLeft = 0;
  let sawClose = false;

  return {
    get atBoundary() {
      return headerBytes === 0 && payloadLeft === 0;
    },
    get sawClose() {
      return sawClose;
    },
    advance(chunk, stopAtBoundary = false) {
      let at = 0;
      while (at < chunk.length) {
        if (payloadLeft > 0) {
          const step = Math.min(payloadLeft, chunk.length - at);
          payloadLeft -= step;
          at += step;
          continue;
        }
        if (stopAtBoundary && headerBytes === 0) return at;
        header[headerBytes++] = chunk[at++]!;
        if (headerBytes < 2 || headerBytes < headerLength(header)) continue;
        payloadLeft = payloadLength(header);
        if ((header[0]! & 0x0f) === OPCODE_CLOSE) sawClose = true;
        headerBytes = 0;
      }
      return at;
    },
  };
}

/**
 * A close frame (status `code`, UTF-8 `reason`). Frames a client sends must be
 * masked (RFC 6455 §5.3), so the one sent upstream is; the one sent to the
 * browser is not.
 */
export function closeFrame(code: number, reason: string, masked: boolean): Buffer {
  const reasonBytes = Buffer.from(reason, 'utf8').subarray(0, MAX_CLOSE_REASON_BYTES);
  const payload = Buffer.alloc(2 + reasonBytes.length);
  payload.writeUInt16BE(code, 0);
  reasonBytes.copy(payload, 2);
  const head = Buffer.from([0x80 | OPCODE_CLOSE, (masked ? 0x80 : 0) | payload.length]);
  if (!masked) return Buffer.concat([head, payload]);
  const mask = randomBytes(4);
  for (let i = 0; i < payload.length; i += 1) payload[i] = payload[i]! ^ mask[i % 4]!;
  return Buffer.concat([head, mask, payload]);
}

function headerLength(header: Buffer): number {
  const length7 = header[1]! & 0x7f;
  const extended = length7 === 126 ? 2 : length7 === 127 ? 8 : 0;
  const mask = header[1]! & 0x80 ? 4 : 0;
  return 2 + extended + mask;
}

function payloadLength(header: Buffer): number {
  const length7 = header[1]! & 0x7f;
  if (length7 === 126) return header.readUInt16BE(2);
  // Beyond 2^53 bytes precision goes; such a frame never finishes anyway.
  if (length7 === 127) return Number(header.readBigUInt64BE(2));
  return length7;
}
