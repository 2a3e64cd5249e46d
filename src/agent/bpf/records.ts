// Ring-buffer record layouts and their decoder.
//
// Twin: native/bpf/socket_trace.h. records.test.ts checks every offset and
// size below against the BTF of native/out/socket_trace.bpf.o and every
// constant against the header's #defines, so nothing here is trusted blindly.
//
// Buffer format (written by the addon's drain): records back to back, each at
// an 8-byte aligned offset; record i+1 starts at round_up(header.size, 8).

import type { ConnCloseEvent, ConnOpenEvent, DataEvent, DgramEvent, Direction, SocketEventSink, TraceRole } from './events.ts';

/** Record op codes (WISP_OP_*). */
export const RecordOp = { ConnOpen: 1, Data: 2, ConnClose: 3, ProcExit: 4, Dgram: 6 } as const;
export type RecordOp = (typeof RecordOp)[keyof typeof RecordOp];

/** Header flag bits (WISP_FLAG_*). */
export const RecordFlag = { Truncated: 0x1, NoPayload: 0x2, Stale: 0x4, Adopted: 0x8, Tls: 0x10 } as const;

/** Connection protocol state carried by CONN_CLOSE (WISP_PROTO_*). */
export const ConnProtocol = { Unknown: 0, Http1: 1, Redis: 4, Dns: 5, NotTraced: 0xffff } as const;

/** Socket families as the kernel numbers them. */
export const AddressFamily = { Inet: 2, Inet6: 10 } as const;

/**
 * Byte offsets of the C structs' members (C names) and the structs' sizes.
 * Nested `header` members are at the header's offsets.
 */
export const LAYOUTS = {
  wisp_record_header: {
    byteLength: 24,
    fields: { op: 0, flags: 2, size: 4, tgid: 8, fd: 12, timestamp_ns: 16 },
  },
  wisp_conn_open_record: {
    byteLength: 88,
    fields: {
      header: 0,
      conn_id: 24,
      process_start_ns: 32,
      role: 40,
      family: 42,
      local_port: 44,
      remote_port: 46,
      local_addr: 48,
      remote_addr: 64,
      cgroup_id: 80,
    },
  },
  wisp_data_record: {
    byteLength: 56,
    fields: {
      header: 0,
      conn_id: 24,
      position: 32,
      length: 40,
      captured: 44,
      direction: 48,
      syscall: 50,
      reserved: 52,
    },
  },
  wisp_conn_close_record: {
    byteLength: 72,
    fields: {
      header: 0,
      conn_id: 24,
      bytes_sent: 32,
      bytes_received: 40,
      role: 48,
      protocol: 50,
      reserved: 52,
      tls_bytes_sent: 56,
      tls_bytes_received: 64,
    },
  },
  wisp_proc_exit_record: {
    byteLength: 56,
    fields: { header: 0, process_start_ns: 24, exit_code: 32, reserved: 36, comm: 40 },
  },
  wisp_dgram_record: {
    byteLength: 96,
    fields: {
      header: 0,
      process_start_ns: 24,
      cgroup_id: 32,
      length: 40,
      captured: 44,
      direction: 48,
      syscall: 50,
      protocol: 52,
      family: 54,
      local_port: 56,
      remote_port: 58,
      reserved: 60,
      local_addr: 64,
      remote_addr: 80,
    },
  },
  /** Value of the kernel `conns` map (socket_trace.bpf.c), as the addon's connStats() copies it. */
  conn_info: {
    byteLength: 48,
    fields: {
      conn_id: 0,
      bytes_sent: 8,
      bytes_received: 16,
      role: 24,
      protocol: 26,
      flags: 28,
      tls_bytes_sent: 32,
      tls_bytes_received: 40,
    },
  },
} as const;

const H = LAYOUTS.wisp_record_header.fields;
const HEADER_BYTES = LAYOUTS.wisp_record_header.byteLength;
const O = LAYOUTS.wisp_conn_open_record.fields;
const OPEN_BYTES = LAYOUTS.wisp_conn_open_record.byteLength;
const D = LAYOUTS.wisp_data_record.fields;
const DATA_BYTES = LAYOUTS.wisp_data_record.byteLength;
const C = LAYOUTS.wisp_conn_close_record.fields;
const CLOSE_BYTES = LAYOUTS.wisp_conn_close_record.byteLength;
const X = LAYOUTS.wisp_proc_exit_record.fields;
const EXIT_BYTES = LAYOUTS.wisp_proc_exit_record.byteLength;
const COMM_BYTES = 16;
const G = LAYOUTS.wisp_dgram_record.fields;
const DGRAM_BYTES = LAYOUTS.wisp_dgram_record.byteLength;

/** What the decoder skipped, by reason. Mutated in place by decodeRecords. */
export interface DecodeCounters {
  /** Records delivered to the sink. */
  records: number;
  /** Records with an op code this decoder does not know (skipped by size). */
  unknownOp: number;
  /** Records smaller than their op's fixed part or payload (skipped by size). */
  shortRecord: number;
  /** A header whose size is < the header or runs past the data: the rest of the buffer is discarded. */
  badSize: number;
  /** Bytes discarded because of badSize or a trailing partial header. */
  discardedBytes: number;
}

export function createDecodeCounters(): DecodeCounters {
  return { records: 0, unknownOp: 0, shortRecord: 0, badSize: 0, discardedBytes: 0 };
}

/** Rounds a record size up to the 8-byte stride of the drain buffer. */
export function recordStride(sizeBytes: number): number {
  return (sizeBytes + 7) & ~7;
}

export function u64(view: DataView, offset: number): number {
  // Exact below 2^53: monotonic ns (~104 days of uptime), counters, positions.
  return view.getUint32(offset + 4, true) * 0x1_0000_0000 + view.getUint32(offset, true);
}

/** Renders 4 or 16 address bytes; IPv4-mapped IPv6 (::ffff:a.b.c.d) renders as IPv4. */
export function formatAddress(bytes: Uint8Array, family: number): string {
  if (family === AddressFamily.Inet) {
    return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  }
  let mapped = bytes[10] === 0xff && bytes[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) mapped = bytes[i] === 0;
  if (mapped) return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;

  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first one on ties.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

/** A NUL-terminated (or full-width) Latin-1 string of at most `width` bytes. */
function cString(buffer: Uint8Array, start: number, width: number): string {
  let end = start;
  while (end < start + width && buffer[end] !== 0) end++;
  return String.fromCharCode(...buffer.subarray(start, end));
}

function familyOf(kernelFamily: number): 4 | 6 {
  return kernelFamily === AddressFamily.Inet ? 4 : 6;
}

/**
 * The DataEvent decodeRecords reuses for every data record. Its payload is a
 * range of the drain buffer (payload* fields); `data` makes a view of that
 * range only when read: creating a typed array per record was a large share
 * of the decoder's cost, and the connection tracker reads the range instead.
 */
class DecodedDataEvent implements DataEvent {
  timestampNs = 0;
  connId = 0;
  pid = 0;
  fd = 0;
  direction: Direction = 0;
  position = 0;
  length = 0;
  encrypted = false;
  payloadBuffer: Uint8Array;
  payloadStart = 0;
  payloadBytes = 0;

  constructor(buffer: Uint8Array) {
    this.payloadBuffer = buffer;
  }

  get data(): Uint8Array {
    const buffer = this.payloadBuffer;
    // The constructor, not subarray(): subarray looks up the species constructor.
    return new Uint8Array(buffer.buffer, buffer.byteOffset + this.payloadStart, this.payloadBytes);
  }

  set data(bytes: Uint8Array) {
    this.payloadBuffer = bytes;
    this.payloadStart = 0;
    this.payloadBytes = bytes.byteLength;
  }
}

/**
 * Decodes `buffer[0, byteLength)` and calls the sink once per record, in
 * order. Returns how many records were delivered. Never throws for bad input:
 * unknown ops and short records are counted and skipped by their size; a size
 * that cannot be trusted (0, < header, past the end) stops the walk and counts
 * the discarded rest. The DataEvent passed to onData is one reused object and
 * its `data` is a view into `buffer`: valid only during the call.
 */
export function decodeRecords(
  buffer: Uint8Array,
  byteLength: number,
  sink: SocketEventSink,
  counters: DecodeCounters,
): number {
  const end = Math.min(byteLength, buffer.byteLength);
  const view = new DataView(buffer.buffer, buffer.byteOffset, end);
  const data = new DecodedDataEvent(buffer);
  let delivered = 0;
  let offset = 0;
  while (offset + HEADER_BYTES <= end) {
    const op = view.getUint16(offset + H.op, true);
    const size = view.getUint32(offset + H.size, true);
    if (size < HEADER_BYTES || offset + size > end) {
      counters.badSize++;
      counters.discardedBytes += end - offset;
      return finish(counters, delivered);
    }
    switch (op) {
      case RecordOp.Data: {
        const captured = size >= DATA_BYTES ? view.getUint32(offset + D.captured, true) : 0;
        if (size < DATA_BYTES || DATA_BYTES + captured > size) {
          counters.shortRecord++;
          break;
        }
        data.timestampNs = u64(view, offset + H.timestamp_ns);
        data.connId = u64(view, offset + D.conn_id);
        data.pid = view.getUint32(offset + H.tgid, true);
        data.fd = view.getUint32(offset + H.fd, true);
        data.direction = view.getUint16(offset + D.direction, true) as Direction;
        data.position = u64(view, offset + D.position);
        data.length = view.getUint32(offset + D.length, true);
        data.encrypted = (view.getUint16(offset + H.flags, true) & RecordFlag.Tls) !== 0;
        data.payloadStart = offset + DATA_BYTES;
        data.payloadBytes = captured;
        sink.onData(data);
        delivered++;
        break;
      }
      case RecordOp.ConnOpen: {
        if (size < OPEN_BYTES) {
          counters.shortRecord++;
          break;
        }
        const kernelFamily = view.getUint16(offset + O.family, true);
        const event: ConnOpenEvent = {
          timestampNs: u64(view, offset + H.timestamp_ns),
          connId: u64(view, offset + O.conn_id),
          pid: view.getUint32(offset + H.tgid, true),
          fd: view.getUint32(offset + H.fd, true),
          processStartNs: u64(view, offset + O.process_start_ns),
          role: view.getUint16(offset + O.role, true) as TraceRole,
          family: familyOf(kernelFamily),
          localAddr: formatAddress(buffer.subarray(offset + O.local_addr, offset + O.local_addr + 16), kernelFamily),
          localPort: view.getUint16(offset + O.local_port, true),
          remoteAddr: formatAddress(
            buffer.subarray(offset + O.remote_addr, offset + O.remote_addr + 16),
            kernelFamily,
          ),
          remotePort: view.getUint16(offset + O.remote_port, true),
          cgroupId: u64(view, offset + O.cgroup_id),
        };
        sink.onOpen(event);
        delivered++;
        break;
      }
      case RecordOp.ConnClose: {
        if (size < CLOSE_BYTES) {
          counters.shortRecord++;
          break;
        }
        const tls = (view.getUint16(offset + H.flags, true) & RecordFlag.Tls) !== 0;
        const event: ConnCloseEvent = {
          timestampNs: u64(view, offset + H.timestamp_ns),
          connId: u64(view, offset + C.conn_id),
          pid: view.getUint32(offset + H.tgid, true),
          fd: view.getUint32(offset + H.fd, true),
          bytesSent: u64(view, offset + C.bytes_sent),
          bytesReceived: u64(view, offset + C.bytes_received),
          protocol: view.getUint16(offset + C.protocol, true),
          ...(tls ? { tlsBytesSent: u64(view, offset + C.tls_bytes_sent), tlsBytesReceived: u64(view, offset + C.tls_bytes_received) } : {}),
        };
        sink.onClose(event);
        delivered++;
        break;
      }
      case RecordOp.ProcExit: {
        if (size < EXIT_BYTES) {
          counters.shortRecord++;
          break;
        }
        if (sink.onProcExit === undefined) break;
        const code = view.getUint32(offset + X.exit_code, true);
        sink.onProcExit({
          timestampNs: u64(view, offset + H.timestamp_ns),
          pid: view.getUint32(offset + H.tgid, true),
          processStartNs: u64(view, offset + X.process_start_ns),
          exitStatus: (code >>> 8) & 0xff,
          signal: code & 0x7f,
          comm: cString(buffer, offset + X.comm, COMM_BYTES),
        });
        delivered++;
        break;
      }
      case RecordOp.Dgram: {
        const captured = size >= DGRAM_BYTES ? view.getUint32(offset + G.captured, true) : 0;
        if (size < DGRAM_BYTES || DGRAM_BYTES + captured > size) {
          counters.shortRecord++;
          break;
        }
        if (sink.onDgram === undefined) break;
        const kernelFamily = view.getUint16(offset + G.family, true);
        const payloadStart = offset + DGRAM_BYTES;
        sink.onDgram({
          timestampNs: u64(view, offset + H.timestamp_ns),
          pid: view.getUint32(offset + H.tgid, true),
          fd: view.getUint32(offset + H.fd, true),
          processStartNs: u64(view, offset + G.process_start_ns),
          cgroupId: u64(view, offset + G.cgroup_id),
          direction: view.getUint16(offset + G.direction, true) as Direction,
          protocol: view.getUint16(offset + G.protocol, true),
          family: familyOf(kernelFamily),
          localAddr: formatAddress(buffer.subarray(offset + G.local_addr, offset + G.local_addr + 16), kernelFamily),
          localPort: view.getUint16(offset + G.local_port, true),
          remoteAddr: formatAddress(buffer.subarray(offset + G.remote_addr, offset + G.remote_addr + 16), kernelFamily),
          remotePort: view.getUint16(offset + G.remote_port, true),
          length: view.getUint32(offset + G.length, true),
          data: buffer.subarray(payloadStart, payloadStart + captured),
        } satisfies DgramEvent);
        delivered++;
        break;
      }
      default:
        counters.unknownOp++;
    }
    offset += recordStride(size);
  }
  if (offset < end) {
    // A trailing partial header: the writer never produces one.
    counters.badSize++;
    counters.discardedBytes += end - offset;
  }
  return finish(counters, delivered);
}

function finish(counters: DecodeCounters, delivered: number): number {
  counters.records += delivered;
  return delivered;
}
