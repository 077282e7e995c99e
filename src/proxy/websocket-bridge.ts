import type { Duplex } from 'node:stream';
import { closeFrame, createFrameTracker, type FrameTracker } from './websocket-frames.js';

/** RFC 6455 §7.4.1 / IANA registry: "the server was acting as a gateway and the upstream went away". */
const CLOSE_BAD_GATEWAY = 1014;

export interface BridgeEnd {
  /** Who ended the connection first. */
  readonly by: 'client' | 'upstream' | 'gateway';
  readonly bytesFromClient: number;
  readonly bytesFromUpstream: number;
}

export interface WebSocketBridge {
  /**
   * Ends both sides cleanly: each gets a close frame (`code`, `reason`) as soon
   * as the frame in flight towards it is complete, then its TCP half-close.
   * Whatever does not finish within the grace period is cut.
   */
  close(code: number, reason: string): void;
  /** Resolves once both sockets are closed. */
  readonly done: Promise<BridgeEnd>;
}

export interface BridgeOptions {
  /** Bytes that arrived with each handshake (Node hands them over as `head`). */
  clientHead?: Buffer;
  upstreamHead?: Buffer;
  /** How long a closing side may take before its socket is destroyed, in ms. */
  graceMs: number;
}

/**
 * Relays an upgraded WebSocket connection byte for byte between the browser
 * and the upstream, with backpressure both ways. Frame headers are tracked
 * (never payloads) so the gateway can add its own close frame between two
 * frames: when the session ends, at shutdown, or when the upstream drops the
 * connection without a closing handshake.
 */
export function bridgeWebSockets(client: Duplex, upstream: Duplex, options: BridgeOptions): WebSocketBridge {
  let endedBy: BridgeEnd['by'] | undefined;
  let closing: { code: number; reason: string } | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  const bytes = { fromClient: 0, fromUpstream: 0 };

  const destroyBoth = () => {
    client.destroy();
    upstream.destroy();
  };
  const startGrace = () => {
    if (graceTimer) return;
    graceTimer = setTimeout(destroyBoth, options.graceMs);
    graceTimer.unref();
  };

  // Named for where the bytes go: toUpstream tracks the client's frames.
  const toUpstream = relay(client, upstream, true, (n) => (bytes.fromClient += n));
  const toClient = relay(upstream, client, false, (n) => (bytes.fromUpstream += n));

  function relay(from: Duplex, to: Duplex, masked: boolean, count: (n: number) => void) {
    const tracker: FrameTracker = createFrameTracker();
    let sealed = false;
    /** Our close frame (unless that side already sent one: no frame may follow a close), then the half-close. */
    const seal = (frame?: { code: number; reason: string }) => {
      if (sealed) return;
      sealed = true;
      if (to.destroyed) return;
      if (frame && !tracker.sawClose) to.write(closeFrame(frame.code, frame.reason, masked));
      to.end();
    };
    const write = (chunk: Buffer) => {
      count(chunk.length);
      if (!to.write(chunk) && !from.isPaused()) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    };
    from.on('data', (chunk: Buffer) => {
      if (sealed) return; // closing: what arrives after our close frame goes nowhere
      if (!closing) {
        tracker.advance(chunk);
        write(chunk);
        return;
      }
      const upToBoundary = tracker.advance(chunk, true);
      if (upToBoundary > 0) write(chunk.subarray(0, upToBoundary));
      if (tracker.atBoundary) seal(closing);
    });
    return {
      tracker,
      get sealed() {
        return sealed;
      },
      /** Close now if between frames; otherwise as soon as the frame in flight is through. */
      sealAtBoundary(frame: { code: number; reason: string }) {
        if (tracker.atBoundary) seal(frame);
        else from.resume();
      },
      /** The source is gone: close cleanly if between frames, cut otherwise. */
      sealNow(frame?: { code: number; reason: string }) {
        if (sealed) return;
        if (tracker.atBoundary) seal(frame);
        else to.destroy();
      },
    };
  }

  if (options.upstreamHead?.length) {
    toClient.tracker.advance(options.upstreamHead);
    client.write(options.upstreamHead);
  }
  if (options.clientHead?.length) {
    toUpstream.tracker.advance(options.clientHead);
    upstream.write(options.clientHead);
  }

  /** The upstream's side is over: pass its close on, or, if it left without one, say so. */
  const upstreamGone = () => {
    endedBy ??= 'upstream';
    const handshakeStarted = toClient.tracker.sawClose || toUpstream.tracker.sawClose;
    // Without a closing handshake the browser would only see 1006 (abnormal closure).
    const unannounced = endedBy === 'upstream' && !handshakeStarted;
    toClient.sealNow(unannounced ? { code: CLOSE_BAD_GATEWAY, reason: 'upstream went away' } : closing);
    startGrace();
  };
  upstream.on('end', upstreamGone);
  client.on('end', () => {
    endedBy ??= 'client';
    toUpstream.sealNow();
    startGrace();
  });
  // A reset is one side leaving abruptly: the 'close' handlers below tell the other side.
  client.on('error', () => {
    endedBy ??= 'client';
    client.destroy();
  });
  upstream.on('error', () => {
    endedBy ??= 'upstream';
    upstream.destroy();
  });

  const closed = (socket: Duplex) =>
    new Promise<void>((resolve) => (socket.destroyed && socket.closed ? resolve() : socket.once('close', () => resolve())));
  const done = Promise.all([closed(client), closed(upstream)]).then((): BridgeEnd => {
    clearTimeout(graceTimer);
    return { by: endedBy ?? 'gateway', bytesFromClient: bytes.fromClient, bytesFromUpstream: bytes.fromUpstream };
  });
  // One side fully closed: the other has the grace period to follow.
  client.once('close', () => {
    toUpstream.sealNow();
    startGrace();
  });
  upstream.once('close', upstreamGone);

  return {
    close(code, reason) {
      if (closing) return;
      closing = { code, reason };
      endedBy ??= 'gateway';
      startGrace();
      toClient.sealAtBoundary(closing);
      toUpstream.sealAtBoundary(closing);
    },
    done,
  };
}
