// Shared fixtures for the tracker and parser specs (not part of the runtime).

import type { ConnectionInfo } from '../protocols/protocol.ts';
import type { HttpExchange } from '../protocols/http1/http-exchange.ts';
import type { ConnectionTrackerOptions } from './connection-tracker.ts';
import { ConnectionTracker } from './connection-tracker.ts';
import type { SocketEvent } from './replay.ts';
import { replaySocketEvents } from './replay.ts';

export interface Captured {
  readonly tracker: ConnectionTracker;
  readonly exchanges: HttpExchange[];
  readonly conns: ConnectionInfo[];
}

/** A tracker that records every exchange it emits. */
export function capturingTracker(options: Partial<ConnectionTrackerOptions> = {}): Captured {
  const exchanges: HttpExchange[] = [];
  const conns: ConnectionInfo[] = [];
  const tracker = new ConnectionTracker({
    ...options,
    sinks: {
      onHttp(exchange, conn) {
        exchanges.push(exchange);
        conns.push(conn);
      },
    },
  });
  return { tracker, exchanges, conns };
}

export function replay(events: readonly SocketEvent[], options: Partial<ConnectionTrackerOptions> = {}): Captured {
  const captured = capturingTracker(options);
  replaySocketEvents(captured.tracker, events);
  return captured;
}

/** Sum of counters whose name starts with `prefix`. */
export function countPrefix(stats: Record<string, number>, prefix: string): number {
  let n = 0;
  for (const [key, value] of Object.entries(stats)) if (key.startsWith(prefix)) n += value;
  return n;
}

/** Deterministic PRNG (mulberry32) for fuzzing. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
