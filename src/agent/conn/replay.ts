// Synthetic socket events for tests and benchmarks, and a replayer that
// drives any SocketEventSink the way the native decoder does: one reused
// DataEvent object whose `data` view points into a shared buffer.

import type { ConnCloseEvent, ConnOpenEvent, DataEvent, SocketEventSink } from '../bpf/events.ts';
import { Direction, TraceRole } from '../bpf/events.ts';

export type SocketEvent =
  | { readonly kind: 'open'; readonly event: ConnOpenEvent }
  | { readonly kind: 'data'; readonly event: Readonly<DataEvent> }
  | { readonly kind: 'close'; readonly event: ConnCloseEvent };

/**
 * Feed `events` to `sink` in order. Data payloads are copied into one scratch
 * buffer and delivered through one reused DataEvent, so a sink that keeps a
 * view past the call sees it overwritten, as it would in production.
 */
export function replaySocketEvents(sink: SocketEventSink, events: readonly SocketEvent[]): void {
  let scratch = new Uint8Array(64 * 1024);
  const reused: DataEvent = {
    timestampNs: 0,
    connId: 0,
    pid: 0,
    fd: 0,
    direction: Direction.Egress,
    position: 0,
    length: 0,
    data: scratch.subarray(0, 0),
    encrypted: false,
  };
  for (const item of events) {
    if (item.kind === 'open') sink.onOpen(item.event);
    else if (item.kind === 'close') sink.onClose(item.event);
    else {
      const e = item.event;
      const n = e.data.byteLength;
      if (n > scratch.length) scratch = new Uint8Array(n * 2);
      scratch.set(e.data);
      reused.timestampNs = e.timestampNs;
      reused.connId = e.connId;
      reused.pid = e.pid;
      reused.fd = e.fd;
      reused.direction = e.direction;
      reused.position = e.position;
      reused.length = e.length;
      reused.encrypted = e.encrypted === true;
      reused.data = scratch.subarray(0, n);
      sink.onData(reused);
      scratch.fill(0xee, 0, n); // poison: kept views must not be read later
    }
  }
}

export interface SyntheticConnectionOptions {
  readonly connId: number;
  readonly role?: TraceRole;
  readonly pid?: number;
  readonly fd?: number;
  readonly processStartNs?: number;
  /** Timestamp of the open event; each later event is `stepNs` later. */
  readonly startNs?: number;
  readonly stepNs?: number;
  readonly localAddr?: string;
  readonly localPort?: number;
  readonly remoteAddr?: string;
  readonly remotePort?: number;
  /**
   * TLS: data events are plaintext from the TLS library (encrypted), and the
   * close reports these plaintext end positions beside socket counters
   * `tlsOverheadBytes` larger per direction (the ciphertext's framing).
   */
  readonly tls?: boolean;
  readonly tlsOverheadBytes?: number;
}

export interface SendOptions {
  /** Bytes of the payload the kernel captured (the rest is a gap). Default: all. */
  readonly capturedBytes?: number;
  /** Explicit timestamp instead of the running clock. */
  readonly timestampNs?: number;
}

const encoder = new TextEncoder();

/** Builds the event stream of one connection, tracking positions per direction. */
export class SyntheticConnection {
  readonly events: SocketEvent[] = [];
  readonly options: Required<SyntheticConnectionOptions>;
  private clockNs: number;
  private readonly positions = [0, 0];

  constructor(options: SyntheticConnectionOptions) {
    this.options = {
      role: TraceRole.Server,
      pid: 4242,
      fd: 7,
      processStartNs: 1_000,
      startNs: 1_000_000,
      stepNs: 1_000,
      localAddr: '10.0.0.1',
      localPort: 8080,
      remoteAddr: '10.0.0.2',
      remotePort: 50000,
      tls: false,
      tlsOverheadBytes: 0,
      ...options,
    };
    this.clockNs = this.options.startNs;
  }

  /** The direction that carries requests for this connection's role. */
  get requestDirection(): Direction {
    return this.options.role === TraceRole.Client ? Direction.Egress : Direction.Ingress;
  }

  get responseDirection(): Direction {
    return this.options.role === TraceRole.Client ? Direction.Ingress : Direction.Egress;
  }

  open(): this {
    const o = this.options;
    this.events.push({
      kind: 'open',
      event: {
        timestampNs: this.tick(),
        connId: o.connId,
        pid: o.pid,
        fd: o.fd,
        processStartNs: o.processStartNs,
        role: o.role,
        family: 4,
        localAddr: o.localAddr,
        localPort: o.localPort,
        remoteAddr: o.remoteAddr,
        remotePort: o.remotePort,
      },
    });
    return this;
  }

  /** One syscall moving `payload` in `direction`. */
  send(direction: Direction, payload: string | Uint8Array, options: SendOptions = {}): this {
    this.events.push({ kind: 'data', event: this.dataEvent(direction, payload, options) });
    return this;
  }

  request(payload: string | Uint8Array, options?: SendOptions): this {
    return this.send(this.requestDirection, payload, options);
  }

  response(payload: string | Uint8Array, options?: SendOptions): this {
    return this.send(this.responseDirection, payload, options);
  }

  /** Build (and account) a data event without appending it, e.g. to reorder by hand. */
  dataEvent(direction: Direction, payload: string | Uint8Array, options: SendOptions = {}): DataEvent {
    const bytes = typeof payload === 'string' ? encoder.encode(payload) : payload;
    const captured = options.capturedBytes ?? bytes.length;
    const position = this.positions[direction]!;
    this.positions[direction] = position + bytes.length;
    return {
      timestampNs: options.timestampNs ?? this.tick(),
      connId: this.options.connId,
      pid: this.options.pid,
      fd: this.options.fd,
      direction,
      position,
      length: bytes.length,
      data: bytes.slice(0, captured),
      encrypted: this.options.tls,
    };
  }

  close(): this {
    this.events.push({
      kind: 'close',
      event: {
        timestampNs: this.tick(),
        connId: this.options.connId,
        pid: this.options.pid,
        fd: this.options.fd,
        bytesSent: this.positions[Direction.Egress]! + this.options.tlsOverheadBytes,
        bytesReceived: this.positions[Direction.Ingress]! + this.options.tlsOverheadBytes,
        ...(this.options.tls ? { tlsBytesSent: this.positions[Direction.Egress]!, tlsBytesReceived: this.positions[Direction.Ingress]! } : {}),
      },
    });
    return this;
  }

  private tick(): number {
    const now = this.clockNs;
    this.clockNs += this.options.stepNs;
    return now;
  }
}
