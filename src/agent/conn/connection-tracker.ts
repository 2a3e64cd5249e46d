// Turns decoded socket events into protocol records. Per traced connection it
// keeps the open info, one StreamReassembler per direction and one protocol
// session chosen by inference on the first bytes (see protocols/protocol.ts).
//
// Bounds (per tracker): maxConnections connections, least recently active
// evicted first. Per connection: maxBufferedBytes of out-of-order bytes (half
// per direction), plus what the session keeps — for HTTP/1 at most one partial
// head per side (maxHeaderBytes) and messages waiting for their partner
// (maxPendingMessages per side, maxBufferedBytes in total).
//
// Time: every timestamp is CLOCK_MONOTONIC ns. Expiry runs on the largest
// event timestamp seen and on tick(nowNs); a tracker fed only events still
// finishes closed connections as later events arrive.
//
// Nothing here throws on input: every drop increments a counter (stats()).

import type { ConnCloseEvent, ConnOpenEvent, DataEvent, SocketEventSink } from '../bpf/events.ts';
import { Direction, TraceRole } from '../bpf/events.ts';
import { http1Protocol } from '../protocols/http1/http-session.ts';
import { http2Protocol } from '../protocols/http2/http2-session.ts';
import { mysqlProtocol } from '../protocols/mysql/mysql-session.ts';
import { pgsqlProtocol } from '../protocols/pgsql/pgsql-session.ts';
import { dnsTcpProtocol } from '../protocols/dns/dns-session.ts';
import { redisProtocol } from '../protocols/redis/redis-session.ts';
import type {
  ConnectionInfo,
  ProtocolRegistry,
  ProtocolSession,
  ProtocolSinks,
  ProtocolSpec,
  SessionEnv,
} from '../protocols/protocol.ts';
import { InferResult, StreamSide } from '../protocols/protocol.ts';
import { Counters } from './counters.ts';
import type { ReorderLimits, StreamConsumer } from './stream-reassembler.ts';
import { StreamReassembler } from './stream-reassembler.ts';

export interface ConnectionTrackerOptions {
  /** Where sessions deliver records. */
  readonly sinks: ProtocolSinks;
  /** Protocols to infer, in order; defaults to DEFAULT_REGISTRY. */
  readonly registry?: ProtocolRegistry;
  readonly maxConnections?: number;
  /** Out-of-order bytes held per connection (half per direction); also the bound of messages awaiting a partner. */
  readonly maxBufferedBytes?: number;
  /** Out-of-order events held per direction before the missing bytes are declared lost. */
  readonly maxReorderEvents?: number;
  readonly reorderTimeoutNs?: number;
  /** A connection without events for this long is forgotten (counted `expired`). */
  readonly idleTimeoutNs?: number;
  /** After close, how long to wait for data events still in flight (close's byte counts say how many). */
  readonly closeGraceNs?: number;
  readonly maxBodyBytes?: number;
  readonly maxHeaderBytes?: number;
  readonly maxPendingMessages?: number;
  /**
   * Bytes all connections together may hold (reorder buffers, partial
   * messages, messages awaiting their partner). Over it, the least recently
   * active connections are finished early (counted `evicted_memory`).
   */
  readonly maxTotalBytes?: number;
  /**
   * Told of every connection as it opens (e.g. to note the process's
   * Kubernetes context while the process surely exists). Must be cheap; a
   * throw is counted (`open_observer_error`).
   */
  readonly onOpen?: (conn: ConnectionInfo) => void;
}

export const DEFAULT_REGISTRY: ProtocolRegistry = Object.freeze([http1Protocol, http2Protocol, pgsqlProtocol, mysqlProtocol, redisProtocol, dnsTcpProtocol]);

export const DEFAULTS = Object.freeze({
  maxConnections: 16384,
  maxBufferedBytes: 64 * 1024,
  maxReorderEvents: 16,
  reorderTimeoutNs: 100_000_000,
  idleTimeoutNs: 300_000_000_000,
  closeGraceNs: 100_000_000,
  maxBodyBytes: 512,
  maxHeaderBytes: 16 * 1024,
  maxPendingMessages: 32,
  maxTotalBytes: 32 * 1024 * 1024,
});

const Mode = { Inferring: 0, Active: 1, Ignored: 2 } as const;
type Mode = (typeof Mode)[keyof typeof Mode];

/** Bytes of one direction seen while the protocol is undecided, with per-event timestamps. */
class InferPrefix {
  bytes: Uint8Array;
  length = 0;
  readonly segmentEnds: number[] = [];
  readonly segmentTs: number[] = [];

  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity);
  }

  append(bytes: Uint8Array, start: number, end: number, timestampNs: number): void {
    const need = this.length + (end - start);
    if (need > this.bytes.length) {
      const grown = new Uint8Array(need);
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    this.bytes.set(bytes.subarray(start, end), this.length);
    this.length = need;
    this.segmentEnds.push(need);
    this.segmentTs.push(timestampNs);
  }
}

/** State shared by all connections of one tracker. */
interface TrackerContext {
  readonly registry: ProtocolRegistry;
  readonly maxInferBytes: number;
  /** Replaced (never mutated) when limits change: sessions keep the env they were created with. */
  env: SessionEnv;
  readonly counters: Counters;
  readonly reorder: ReorderLimits;
}

class Connection implements StreamConsumer {
  info: ConnectionInfo;
  readonly ctx: TrackerContext;
  /** LRU list links: prev is less recently active. */
  prev: Connection | null = null;
  next: Connection | null = null;
  lastActiveNs: number;
  readonly streams: readonly [StreamReassembler, StreamReassembler];
  mode: Mode = Mode.Inferring;
  session: ProtocolSession | null = null;
  /** Direction carrying requests; -1 until known (role Unknown before inference). */
  requestDirection: Direction | -1;
  private readonly prefixes: [InferPrefix | null, InferPrefix | null] = [null, null];
  /** Bytes of this direction were dropped or lost before a session existed. */
  private readonly lostBeforeSession: [boolean, boolean] = [false, false];
  private readonly rejected: [boolean, boolean] = [false, false];
  /** Close seen: final positions per direction; -1 while open. */
  closeDeadlineNs = -1;
  closeNs = 0;
  readonly endPositions: [number, number] = [0, 0];
  finished = false;
  /** retainedBytes() as last added to the tracker's total. */
  accountedBytes = 0;

  constructor(info: ConnectionInfo, ctx: TrackerContext) {
    this.info = info;
    this.ctx = ctx;
    this.lastActiveNs = info.openedNs;
    this.streams = [new StreamReassembler(Direction.Egress), new StreamReassembler(Direction.Ingress)];
    this.requestDirection =
      info.role === TraceRole.Server ? Direction.Ingress : info.role === TraceRole.Client ? Direction.Egress : -1;
  }
  /** Bytes this connection holds in user space (approximate: buffer capacities). */
  retainedBytes(): number {
    const [p0, p1] = this.prefixes;
    return this.streams[0].heldBytes + this.streams[1].heldBytes
      + (p0 === null ? 0 : p0.bytes.length) + (p1 === null ? 0 : p1.bytes.length)
      + (this.session === null ? 0 : this.session.retainedBytes());
  }


  deliverData(direction: Direction, bytes: Uint8Array, start: number, end: number, timestampNs: number): void {
    const session = this.session;
    if (session !== null) {
      session.data(direction === this.requestDirection ? StreamSide.Request : StreamSide.Response, bytes, start, end, timestampNs);
      if (session.stopped) this.mode = Mode.Ignored;
      return;
    }
    if (this.mode === Mode.Inferring) this.infer(direction, bytes, start, end, timestampNs);
  }

  deliverGap(direction: Direction, lengthBytes: number, timestampNs: number): void {
    const session = this.session;
    if (session !== null) {
      session.gap(direction === this.requestDirection ? StreamSide.Request : StreamSide.Response, lengthBytes, timestampNs);
      if (session.stopped) this.mode = Mode.Ignored;
      return;
    }
    if (this.mode !== Mode.Inferring) return;
    // Before a protocol is known a gap leaves the undecided prefix meaningless.
    this.prefixes[direction] = null;
    this.lostBeforeSession[direction] = true;
  }

  /** True once every byte the close reported has been delivered or given up on. */
  reachedEnd(): boolean {
    return this.streams[0].nextPosition >= this.endPositions[0] && this.streams[1].nextPosition >= this.endPositions[1];
  }

  private infer(direction: Direction, bytes: Uint8Array, start: number, end: number, timestampNs: number): void {
    const ctx = this.ctx;
    if (this.rejected[direction]) {
      this.lostBeforeSession[direction] = true;
      return;
    }
    const prefix = this.prefixes[direction];
    let view = bytes;
    let viewStart = start;
    let viewEnd = end;
    if (prefix !== null) {
      // Infer on prefix + the first bytes of this event, without keeping the latter yet.
      const extra = Math.min(end - start, Math.max(0, ctx.maxInferBytes - prefix.length));
      view = new Uint8Array(prefix.length + extra);
      view.set(prefix.bytes.subarray(0, prefix.length));
      view.set(bytes.subarray(start, start + extra), prefix.length);
      viewStart = 0;
      viewEnd = view.length;
    }
    let needMore = false;
    let matched: ProtocolSpec | null = null;
    let result: InferResult = InferResult.NoMatch;
    for (const spec of ctx.registry) {
      const r = spec.infer(view, viewStart, viewEnd);
      if (r === InferResult.Request || r === InferResult.Response) {
        const requestDirection = r === InferResult.Request ? direction : direction === Direction.Egress ? Direction.Ingress : Direction.Egress;
        if (this.requestDirection !== -1 && this.requestDirection !== requestDirection) {
          ctx.counters.inc('role_mismatch');
          continue;
        }
        matched = spec;
        result = r;
        break;
      }
      if (r === InferResult.NeedMore) needMore = true;
    }
    if (matched !== null) {
      this.startSession(matched, result, direction);
      this.replayPrefixes();
      this.deliverData(direction, bytes, start, end, timestampNs);
      return;
    }
    if (needMore && viewEnd - viewStart < ctx.maxInferBytes) {
      let p = prefix;
      if (p === null) {
        p = new InferPrefix(ctx.maxInferBytes);
        this.prefixes[direction] = p;
      }
      p.append(bytes, start, end, timestampNs);
      return;
    }
    this.rejected[direction] = true;
    this.prefixes[direction] = null;
    this.lostBeforeSession[direction] = true;
    if (this.rejected[0] && this.rejected[1]) {
      this.mode = Mode.Ignored;
      this.prefixes[0] = null;
      this.prefixes[1] = null;
      ctx.counters.inc('unknown_protocol');
    }
  }

  private startSession(spec: ProtocolSpec, result: InferResult, direction: Direction): void {
    const ctx = this.ctx;
    if (this.requestDirection === -1) {
      const requestDirection = result === InferResult.Request ? direction : direction === Direction.Egress ? Direction.Ingress : Direction.Egress;
      this.requestDirection = requestDirection;
      // Egress carries requests for the side that connected.
      this.info = Object.freeze({
        ...this.info,
        role: requestDirection === Direction.Egress ? TraceRole.Client : TraceRole.Server,
      });
    }
    this.session = spec.createSession(this.info, ctx.env);
    this.mode = Mode.Active;
    ctx.counters.inc(`protocol.${spec.name}`);
  }

  /** Feed the bytes held during inference (request side first), then gaps for bytes lost before. */
  private replayPrefixes(): void {
    const session = this.session!;
    const order: readonly Direction[] =
      this.requestDirection === Direction.Egress ? [Direction.Egress, Direction.Ingress] : [Direction.Ingress, Direction.Egress];
    for (const direction of order) {
      const side = direction === this.requestDirection ? StreamSide.Request : StreamSide.Response;
      if (this.lostBeforeSession[direction]) session.gap(side, 1, this.lastActiveNs);
      const prefix = this.prefixes[direction];
      this.prefixes[direction] = null;
      if (prefix === null) continue;
      let from = 0;
      for (let k = 0; k < prefix.segmentEnds.length; k++) {
        const to = prefix.segmentEnds[k]!;
        session.data(side, prefix.bytes, from, to, prefix.segmentTs[k]!);
        from = to;
      }
    }
  }
}

export class ConnectionTracker implements SocketEventSink {
  readonly counters: Counters;
  private readonly ctx: TrackerContext;
  private readonly maxConnections: number;
  private readonly idleTimeoutNs: number;
  private readonly closeGraceNs: number;
  private readonly maxTotalBytes: number;
  /** Sum of accountedBytes over tracked connections. */
  private totalBytes = 0;
  private readonly conns = new Map<number, Connection>();
  /** LRU list: head least recently active. */
  private head: Connection | null = null;
  private tail: Connection | null = null;
  /** Closed connections waiting for in-flight data, by deadline (FIFO: the grace is constant). */
  private readonly closing: Connection[] = [];
  private closingHead = 0;
  /** Largest event timestamp seen. */
  private clockNs = 0;
  // Per-event counters kept as fields: the hot path must not hash strings.
  private eventsData = 0;
  private dataBytes = 0;
  private readonly onOpenObserver: ((conn: ConnectionInfo) => void) | undefined;

  constructor(options: ConnectionTrackerOptions) {
    const registry = options.registry ?? DEFAULT_REGISTRY;
    const maxBufferedBytes = options.maxBufferedBytes ?? DEFAULTS.maxBufferedBytes;
    this.counters = new Counters();
    this.maxConnections = options.maxConnections ?? DEFAULTS.maxConnections;
    this.idleTimeoutNs = options.idleTimeoutNs ?? DEFAULTS.idleTimeoutNs;
    this.closeGraceNs = options.closeGraceNs ?? DEFAULTS.closeGraceNs;
    this.maxTotalBytes = options.maxTotalBytes ?? DEFAULTS.maxTotalBytes;
    this.onOpenObserver = options.onOpen;
    this.ctx = {
      registry,
      maxInferBytes: registry.reduce((m, s) => Math.max(m, s.maxInferBytes), 1),
      counters: this.counters,
      env: {
        sinks: options.sinks,
        counters: this.counters,
        limits: Object.freeze({
          maxBodyBytes: options.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
          maxHeaderBytes: options.maxHeaderBytes ?? DEFAULTS.maxHeaderBytes,
          maxPendingMessages: options.maxPendingMessages ?? DEFAULTS.maxPendingMessages,
          maxPendingBytes: maxBufferedBytes,
        }),
      },
      reorder: Object.freeze({
        maxHeldEvents: options.maxReorderEvents ?? DEFAULTS.maxReorderEvents,
        maxHeldBytes: Math.max(1, Math.floor(maxBufferedBytes / 2)),
        reorderTimeoutNs: options.reorderTimeoutNs ?? DEFAULTS.reorderTimeoutNs,
      }),
    };
  }

  /**
   * Changes the body bytes kept per message for connections opened from now
   * on (sessions size their buffers when created); callers that need the new
   * limit on open connections cut records themselves (CollectorScope does).
   */
  setMaxBodyBytes(maxBodyBytes: number): void {
    const env = this.ctx.env;
    if (env.limits.maxBodyBytes === maxBodyBytes) return;
    this.ctx.env = { ...env, limits: Object.freeze({ ...env.limits, maxBodyBytes }) };
  }

  /** Connections currently tracked (including closed ones waiting for in-flight data). */
  get size(): number {
    return this.conns.size;
  }

  onOpen(event: ConnOpenEvent): void {
    this.counters.inc('events_open');
    this.advanceClock(event.timestampNs);
    const existing = this.conns.get(event.connId);
    if (existing !== undefined) {
      this.counters.inc('duplicate_open');
      this.finish(existing, event.timestampNs);
    }
    while (this.conns.size >= this.maxConnections && this.head !== null) {
      this.counters.inc('evicted');
      this.finish(this.head, event.timestampNs);
    }
    const info: ConnectionInfo = Object.freeze({
      connId: event.connId,
      pid: event.pid,
      fd: event.fd,
      processStartNs: event.processStartNs,
      role: event.role,
      family: event.family,
      localAddr: event.localAddr,
      localPort: event.localPort,
      remoteAddr: event.remoteAddr,
      remotePort: event.remotePort,
      cgroupId: event.cgroupId ?? 0,
      openedNs: event.timestampNs,
    });
    if (this.onOpenObserver) {
      try {
        this.onOpenObserver(info);
      } catch {
        this.counters.inc('open_observer_error');
      }
    }
    const conn = new Connection(info, this.ctx);
    this.conns.set(event.connId, conn);
    this.linkTail(conn);
  }

  onData(event: DataEvent): void {
    this.eventsData++;
    this.dataBytes += event.length;
    const ts = event.timestampNs;
    if (ts > this.clockNs) this.advanceClock(ts);
    const conn = this.conns.get(event.connId);
    if (conn === undefined) {
      this.counters.inc('unknown_connection');
      return;
    }
    conn.lastActiveNs = ts;
    if (conn !== this.tail) {
      this.unlink(conn);
      this.linkTail(conn);
    }
    if (conn.mode === Mode.Ignored) {
      this.counters.inc('ignored_events');
      return;
    }
    if (event.encrypted === true && conn.info.encrypted !== true) this.markEncrypted(conn);
    const direction = event.direction;
    if (direction !== Direction.Egress && direction !== Direction.Ingress) {
      this.counters.inc('bad_direction');
      return;
    }
    conn.streams[direction].offer(event, conn, this.counters, this.ctx.reorder);
    if (conn.closeDeadlineNs >= 0 && conn.reachedEnd()) {
      this.finish(conn, conn.closeNs);
      return;
    }
    const retained = conn.retainedBytes();
    if (retained !== conn.accountedBytes) {
      this.totalBytes += retained - conn.accountedBytes;
      conn.accountedBytes = retained;
      while (this.totalBytes > this.maxTotalBytes && this.head !== null && this.head !== conn) {
        this.counters.inc('evicted_memory');
        this.finish(this.head, ts);
      }
    }
  }

  onClose(event: ConnCloseEvent): void {
    this.counters.inc('events_close');
    this.advanceClock(event.timestampNs);
    const conn = this.conns.get(event.connId);
    if (conn === undefined) {
      this.counters.inc('unknown_close');
      return;
    }
    if (conn.closeDeadlineNs >= 0) return;
    // A TLS connection's DataEvents are plaintext: its end is the plaintext's.
    conn.endPositions[Direction.Egress] = event.tlsBytesSent ?? event.bytesSent;
    conn.endPositions[Direction.Ingress] = event.tlsBytesReceived ?? event.bytesReceived;
    conn.closeNs = event.timestampNs;
    if (conn.mode === Mode.Ignored || conn.reachedEnd()) {
      this.finish(conn, event.timestampNs);
      return;
    }
    this.counters.inc('close_waiting');
    conn.closeDeadlineNs = event.timestampNs + this.closeGraceNs;
    this.closing.push(conn);
  }

  /**
   * Advance time to `nowNs` (CLOCK_MONOTONIC): give up on out-of-order waits
   * past the reorder timeout, finish closed connections past their grace,
   * forget connections idle for idleTimeoutNs. Call it about once a second.
   */
  tick(nowNs: number): void {
    this.advanceClock(nowNs);
    const { counters, reorder } = this.ctx;
    for (const conn of this.conns.values()) {
      if (conn.mode === Mode.Ignored) continue;
      for (const stream of conn.streams) {
        if (stream.heldEvents > 0) stream.expire(this.clockNs, conn, counters, reorder);
      }
    }
    while (this.head !== null && this.clockNs - this.head.lastActiveNs >= this.idleTimeoutNs) {
      counters.inc('expired');
      this.finish(this.head, this.clockNs);
    }
  }

  /** Finish every connection (flushing what is complete), e.g. at shutdown. */
  closeAll(nowNs: number): void {
    for (const conn of [...this.conns.values()]) this.finish(conn, nowNs);
  }

  /** Counters by reason, plus gauges (`connections`). */
  stats(): Record<string, number> {
    const out = this.counters.snapshot();
    out['events_data'] = this.eventsData;
    out['data_bytes'] = this.dataBytes;
    out['connections'] = this.conns.size;
    out['retained_bytes'] = this.totalBytes;
    return out;
  }

  /**
   * The first TLS plaintext of a connection: its rows are encrypted. The
   * kernel emits no socket bytes of a connection it saw inside a TLS call, so
   * this normally precedes the session; a session made earlier (a connection
   * whose first bytes were plaintext outside the TLS library) keeps its info
   * and is counted.
   */
  private markEncrypted(conn: Connection): void {
    conn.info = Object.freeze({ ...conn.info, encrypted: true });
    if (conn.session !== null) this.counters.inc('tls_after_session');
  }

  private advanceClock(nowNs: number): void {
    if (nowNs > this.clockNs) this.clockNs = nowNs;
    const closing = this.closing;
    while (this.closingHead < closing.length) {
      const conn = closing[this.closingHead]!;
      if (!conn.finished && conn.closeDeadlineNs > this.clockNs) break;
      this.closingHead++;
      if (!conn.finished) {
        this.counters.inc('close_grace_expired');
        this.finish(conn, conn.closeNs);
      }
    }
    if (this.closingHead > 64 && this.closingHead * 2 > closing.length) {
      closing.splice(0, this.closingHead);
      this.closingHead = 0;
    }
  }

  private finish(conn: Connection, nowNs: number): void {
    if (conn.finished) return;
    conn.finished = true;
    const { counters } = this.ctx;
    if (conn.mode !== Mode.Ignored) {
      conn.streams[0].flush(conn, counters);
      conn.streams[1].flush(conn, counters);
    }
    conn.session?.close(nowNs);
    this.totalBytes -= conn.accountedBytes;
    conn.accountedBytes = 0;
    if (this.conns.get(conn.info.connId) === conn) this.conns.delete(conn.info.connId);
    this.unlink(conn);
    counters.inc('connections_finished');
  }

  private linkTail(conn: Connection): void {
    conn.prev = this.tail;
    conn.next = null;
    if (this.tail !== null) this.tail.next = conn;
    else this.head = conn;
    this.tail = conn;
  }

  private unlink(conn: Connection): void {
    if (conn.prev !== null) conn.prev.next = conn.next;
    else if (this.head === conn) this.head = conn.next;
    if (conn.next !== null) conn.next.prev = conn.prev;
    else if (this.tail === conn) this.tail = conn.prev;
    conn.prev = null;
    conn.next = null;
  }
}
