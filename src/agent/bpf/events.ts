// Decoded socket events: the contract between the native decoder
// (socket-tracer.ts over records.ts; addon.ts is the only module that loads the addon) and the
// connection tracker. Field meanings mirror native/bpf/socket_trace.h.

/** Which side of a connection the traced process is (Pixie's trace_role). */
export const TraceRole = { Unknown: 0, Client: 1, Server: 2 } as const;
export type TraceRole = (typeof TraceRole)[keyof typeof TraceRole];

/** Egress: bytes the traced process wrote. Ingress: bytes it read. */
export const Direction = { Egress: 0, Ingress: 1 } as const;
export type Direction = (typeof Direction)[keyof typeof Direction];

/**
 * A connection was accepted (role Server) or connected (role Client).
 * `connId` is a per-boot unique id assigned in the kernel, so it survives
 * fd reuse: (pid, fd) may repeat, connId never does.
 */
export interface ConnOpenEvent {
  readonly timestampNs: number; // CLOCK_MONOTONIC ns (bpf_ktime_get_ns)
  readonly connId: number;
  readonly pid: number; // tgid
  readonly fd: number;
  readonly processStartNs: number; // task start_time (monotonic ns), part of upid
  readonly role: TraceRole;
  readonly family: 4 | 6;
  readonly localAddr: string;
  readonly localPort: number;
  readonly remoteAddr: string;
  readonly remotePort: number;
  /** cgroup v2 id of the process (inode of its cgroup directory); absent or 0 when unknown. */
  readonly cgroupId?: number;
}

/**
 * One read- or write-family syscall on a traced connection. `position` is the
 * stream offset (in this direction) of the first byte the syscall moved;
 * `length` is how many bytes it moved; `data` holds the first
 * `data.byteLength <= length` of them. When `data.byteLength < length` the
 * rest is a gap the parser must skip by position.
 *
 * The decoder reuses one DataEvent object and `data` is a view into the drain
 * buffer: both are valid only during the onData call. Copy what you keep.
 * The decoder also sets the payload* fields, and makes `data`'s view only
 * when it is read: the connection tracker reads the payload* fields, which
 * saves creating a typed array per record.
 */
export interface DataEvent {
  timestampNs: number;
  connId: number;
  pid: number;
  fd: number;
  direction: Direction;
  position: number;
  length: number;
  data: Uint8Array;
  /**
   * Zero-copy form of `data` (set by the decoder; absent in hand-made
   * events): the same bytes are `payloadBuffer[payloadStart, payloadStart +
   * payloadBytes)`.
   */
  payloadBuffer?: Uint8Array;
  payloadStart?: number;
  payloadBytes?: number;
  /**
   * The bytes are TLS plaintext taken from the TLS library (uprobes), at
   * plaintext positions; the connection's socket bytes (ciphertext) are never
   * reported. Absent or false for socket bytes.
   */
  encrypted?: boolean;
}

export interface ConnCloseEvent {
  readonly timestampNs: number;
  readonly connId: number;
  readonly pid: number;
  readonly fd: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** The kernel's protocol state of the connection (WISP_PROTO_*, records.ts ConnProtocol); absent when unknown. */
  readonly protocol?: number;
  /**
   * Present when the connection carried TLS plaintext: the end positions of
   * its (encrypted) DataEvents. bytesSent/bytesReceived stay the socket's.
   */
  readonly tlsBytesSent?: number;
  readonly tlsBytesReceived?: number;
}

/**
 * The last thread of a process exited (sched_process_exit). `exitStatus` is
 * the status a parent's wait(2) would see when `signal` is 0; `signal` is the
 * terminating signal otherwise.
 */
export interface ProcExitEvent {
  readonly timestampNs: number;
  readonly pid: number;
  readonly processStartNs: number;
  readonly exitStatus: number;
  readonly signal: number;
  /** The process's command name (the group leader's comm, at most 15 bytes). */
  readonly comm: string;
}

/**
 * One UDP datagram a traced process sent (Egress) or received (Ingress)
 * (WISP_OP_DGRAM). The kernel emits only datagrams of a protocol it traces
 * (`protocol`, WISP_PROTO_*: DNS today). Local address and port are the
 * socket's; remote ones the datagram's peer. `data` (the first
 * `data.byteLength <= length` bytes) is a view valid only during the call.
 */
export interface DgramEvent {
  readonly timestampNs: number;
  readonly pid: number;
  readonly fd: number;
  readonly processStartNs: number;
  readonly cgroupId: number;
  readonly direction: Direction;
  readonly protocol: number;
  readonly family: 4 | 6;
  readonly localAddr: string;
  readonly localPort: number;
  readonly remoteAddr: string;
  readonly remotePort: number;
  readonly length: number;
  readonly data: Uint8Array;
}

/** Receives decoded events in ring-buffer order. Must not throw. */
export interface SocketEventSink {
  onOpen(event: ConnOpenEvent): void;
  onData(event: DataEvent): void;
  onClose(event: ConnCloseEvent): void;
  /** Optional: sinks that do not care about process exits leave it out (the record is then skipped). */
  onProcExit?(event: ProcExitEvent): void;
  /** Optional: sinks that do not care about datagrams leave it out (the record is then skipped). */
  onDgram?(event: DgramEvent): void;
}
