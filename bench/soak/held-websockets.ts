/**
 * WebSockets held open through HAProxy, each on a session's cookie, as SPAs
 * hold them: when one closes it reconnects at once with the same cookie (no
 * new login), and every drop and re-establishment is counted.
 */
import WebSocket from 'ws';
import type { SoakSession } from './soak-sessions.js';

export interface HeldWebSockets {
  /** Sockets open right now. */
  open(): number;
  readonly dropped: Map<string, number>;
  /** Successful re-opens after a drop. */
  reestablished(): number;
  /** Re-open attempts refused (status or error), by reason. */
  readonly refused: Map<string, number>;
  /** Times (ms) of each drop and each re-establishment, for herd timing. */
  readonly dropTimes: number[];
  readonly reopenTimes: number[];
  /** Resolves once `count` sockets have opened for the first time. */
  ready: Promise<void>;
  close(): Promise<void>;
}

export interface HeldWebSocketOptions {
  url: string;
  origin: string;
  path: string;
  count: number;
  /** Pause before a reconnect (0 = at once, the herd). */
  reconnectDelayMs: number;
  /** Opening sockets at start-up, a bounded number at once. */
  openConcurrency?: number;
}

export function holdWebSockets(options: HeldWebSocketOptions, sessions: SoakSession[]): HeldWebSockets {
  const wsUrl = `${options.url.replace(/^http/, 'ws')}${options.path}`;
  const live = new Set<WebSocket>();
  const dropped = new Map<string, number>();
  const refused = new Map<string, number>();
  const dropTimes: number[] = [];
  const reopenTimes: number[] = [];
  let reestablished = 0;
  let closing = false;
  const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

  const connect = (session: SoakSession, isReconnect: boolean): Promise<void> =>
    new Promise((resolve) => {
      if (closing) return resolve();
      const ws = new WebSocket(wsUrl, { headers: { cookie: session.cookie }, origin: options.origin, handshakeTimeout: 30_000 });
      let opened = false;
      let refusal: string | undefined;
      ws.on('open', () => {
        opened = true;
        live.add(ws);
        if (isReconnect) {
          reestablished++;
          reopenTimes.push(Date.now());
        }
        resolve();
      });
      ws.on('unexpected-response', (_req, res) => {
        refusal ??= `HTTP ${res.statusCode}`;
        res.resume();
        ws.terminate();
      });
      ws.on('error', (err) => {
        if (!opened) refusal ??= (err as NodeJS.ErrnoException).code ?? err.message.slice(0, 40);
      });
      ws.on('close', (code) => {
        live.delete(ws);
        if (closing) return resolve();
        if (!opened) bump(refused, refusal ?? 'closed before open');
        if (opened) {
          bump(dropped, String(code));
          dropTimes.push(Date.now());
        }
        // A refused attempt waits a little longer so a gap in service is not a busy loop.
        const delay = opened ? options.reconnectDelayMs : Math.max(options.reconnectDelayMs, 500);
        setTimeout(() => void connect(session, opened || isReconnect).then(resolve), delay);
      });
    });

  const openAll = async () => {
    let next = 0;
    const worker = async () => {
      while (next < options.count) {
        const i = next++;
        // Spread over all sessions (not the first few, which logged in together and refresh together).
        await connect(sessions[Math.floor((i * sessions.length) / options.count) % sessions.length]!, false);
      }
    };
    await Promise.all(Array.from({ length: Math.min(options.openConcurrency ?? 50, options.count) }, worker));
  };

  return {
    open: () => live.size,
    dropped,
    reestablished: () => reestablished,
    refused,
    dropTimes,
    reopenTimes,
    ready: openAll(),
    async close() {
      closing = true;
      const closed = [...live].map((ws) => new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.terminate();
      }));
      await Promise.all(closed);
    },
  };
}
