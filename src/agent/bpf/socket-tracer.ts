// Socket data capture: owns the native handle and one reusable drain buffer,
// and turns drained records into SocketEventSink calls.
//
// Nothing wakes user space (the kernel writes with BPF_RB_NO_WAKEUP): call
// drain() on a timer (e.g. every 10 ms). The ring buffer must hold what the
// traced processes produce in one period, or `ringbufFull` counts the loss.

import { loadAddon } from './addon.ts';
import type { NativeHandle, WispBpfAddon } from './addon.ts';
import type { SocketEventSink } from './events.ts';
import { createDecodeCounters, decodeRecords, LAYOUTS, u64 } from './records.ts';
import type { DecodeCounters } from './records.ts';

export type SocketTracerMode = 'full' | 'bare';

/** One kernel connection's cumulative counters (protocol: WISP_PROTO_*, records.ts ConnProtocol). */
export type ConnectionCountersVisitor = (connId: number, bytesSent: number, bytesReceived: number, protocol: number) => void;

export interface SocketTracerOptions {
  /** Process the kernel ignores: the agent itself. */
  readonly selfPid: number;
  /** Payload bytes captured per syscall; the rest is a gap. At most the addon's maxCaptureBytesLimit (32 KiB). */
  readonly maxCaptureBytes: number;
  /** Kernel ring buffer size, a power of two. */
  readonly ringBufferBytes: number;
  /** Kernel connection table capacity. */
  readonly maxConnections: number;
  /** 'bare' attaches every program but makes each return at once (benchmark floor). */
  readonly mode: SocketTracerMode;
  /** User-space drain buffer; one native drain fills at most this much. */
  readonly drainBufferBytes: number;
  /** Native drain calls per drain(), so one drain() cannot run unbounded under load. */
  readonly maxDrainPasses: number;
}

export const DEFAULTS: Readonly<SocketTracerOptions> = Object.freeze({
  selfPid: process.pid,
  maxCaptureBytes: 16 * 1024,
  ringBufferBytes: 16 * 1024 * 1024,
  maxConnections: 65536,
  mode: 'full',
  drainBufferBytes: 8 * 1024 * 1024,
  maxDrainPasses: 4,
});

/** The largest record the kernel writes (a DATA record with a full payload), padded. */
const MAX_RECORD_BYTES = LAYOUTS.wisp_data_record.byteLength + 32 * 1024;

export class SocketTracer {
  readonly options: Readonly<SocketTracerOptions>;
  readonly #addon: WispBpfAddon;
  readonly #buffer: Uint8Array;
  readonly #decode: DecodeCounters = createDecodeCounters();
  #handle: NativeHandle | undefined;
  #lastBytes = 0;
  #scan: Uint8Array | undefined;

  private constructor(addon: WispBpfAddon, handle: NativeHandle, options: Readonly<SocketTracerOptions>) {
    this.#addon = addon;
    this.#handle = handle;
    this.options = options;
    this.#buffer = new Uint8Array(options.drainBufferBytes);
  }

  /** Loads and attaches the eBPF programs. Throws with what failed (needs root / CAP_BPF+CAP_PERFMON). */
  static open(options: Partial<SocketTracerOptions> = {}): SocketTracer {
    const merged: Readonly<SocketTracerOptions> = Object.freeze({ ...DEFAULTS, ...options });
    if (merged.drainBufferBytes < MAX_RECORD_BYTES) {
      throw new RangeError(
        `open socket tracer: drainBufferBytes ${merged.drainBufferBytes} is below one record (${MAX_RECORD_BYTES})`,
      );
    }
    const addon = loadAddon();
    const handle = addon.open({
      selfPid: merged.selfPid,
      maxCaptureBytes: merged.maxCaptureBytes,
      ringBufferBytes: merged.ringBufferBytes,
      maxConnections: merged.maxConnections,
      mode: merged.mode === 'bare' ? 1 : 0,
    });
    return new SocketTracer(addon, handle, merged);
  }

  /**
   * Drains pending records into the sink, in ring-buffer order; returns the
   * number of records delivered. Repeats while the drain buffer comes back
   * full, up to maxDrainPasses. Does nothing after close().
   */
  drain(sink: SocketEventSink): number {
    let delivered = 0;
    for (let pass = 0; pass < this.options.maxDrainPasses; pass++) {
      const bytes = this.#drainOnce();
      if (bytes === 0) break;
      delivered += decodeRecords(this.#buffer, bytes, sink, this.#decode);
      if (bytes + MAX_RECORD_BYTES < this.#buffer.byteLength) break; // not full: caught up
    }
    return delivered;
  }

  /**
   * One native drain, undecoded: a view of the internal buffer holding whole
   * records (format in records.ts). Valid until the next drain call.
   */
  drainRaw(): Uint8Array {
    const bytes = this.#drainOnce();
    return this.#buffer.subarray(0, bytes);
  }

  /**
   * Reads the byte counters of every connection the kernel tracks (all inet
   * TCP connections, traced protocol or not) and calls `visit` once per
   * connection. Returns how many were visited. The scan buffer (32 bytes per
   * possible connection) is allocated on the first call.
   */
  scanConnections(visit: ConnectionCountersVisitor): number {
    if (this.#handle === undefined) return 0;
    const stride = LAYOUTS.conn_info.byteLength;
    this.#scan ??= new Uint8Array(this.options.maxConnections * stride);
    const count = this.#addon.connStats(this.#handle, this.#scan);
    const view = new DataView(this.#scan.buffer, 0, count * stride);
    const F = LAYOUTS.conn_info.fields;
    for (let i = 0, at = 0; i < count; i++, at += stride) {
      visit(
        u64(view, at + F.conn_id),
        u64(view, at + F.bytes_sent),
        u64(view, at + F.bytes_received),
        view.getUint16(at + F.protocol, true),
      );
    }
    return count;
  }

  /**
   * Attaches the TLS uprobes to the ELF file at `path` (a libssl, or a binary
   * with OpenSSL linked in): every process mapping it, now or later, has its
   * TLS plaintext captured. Throws naming the function and file that failed.
   */
  attachTls(path: string): void {
    if (this.#handle === undefined) throw new Error(`attach TLS probes to ${path}: the tracer is closed`);
    this.#addon.attachTls(this.#handle, path);
  }

  /**
   * Has the kernel adopt these TCP connections on their next read or write,
   * like a recv/send on an untracked socket (open-connections.ts); `pairs`
   * is (tgid, fd) flat. Returns how many were noted.
   */
  watchFds(pairs: Uint32Array): number {
    if (this.#handle === undefined || pairs.length === 0) return 0;
    return this.#addon.watchFds(this.#handle, pairs);
  }

  /** Detaches every TLS uprobe (none left trapping SSL calls). */
  detachTls(): void {
    if (this.#handle !== undefined) this.#addon.detachTls(this.#handle);
  }

  /** Kernel drop counters, addon counters and decoder counters (prefixed `decode`). */
  counters(): Record<string, number> {
    const result: Record<string, number> = {};
    if (this.#handle !== undefined) Object.assign(result, this.#addon.counters(this.#handle));
    result['decodeRecords'] = this.#decode.records;
    result['decodeUnknownOp'] = this.#decode.unknownOp;
    result['decodeShortRecord'] = this.#decode.shortRecord;
    result['decodeBadSize'] = this.#decode.badSize;
    result['decodeDiscardedBytes'] = this.#decode.discardedBytes;
    return result;
  }

  /** Bytes the last native drain returned. */
  get lastDrainBytes(): number {
    return this.#lastBytes;
  }

  /** Detaches the programs and frees the kernel objects; safe to call twice. */
  close(): void {
    if (this.#handle === undefined) return;
    this.#addon.close(this.#handle);
    this.#handle = undefined;
  }

  #drainOnce(): number {
    if (this.#handle === undefined) return 0;
    this.#lastBytes = this.#addon.drain(this.#handle, this.#buffer);
    return this.#lastBytes;
  }
}
