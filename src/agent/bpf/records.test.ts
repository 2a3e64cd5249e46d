import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { Direction, TraceRole } from './events.ts';
import type { ConnCloseEvent, ConnOpenEvent, DataEvent, DgramEvent, ProcExitEvent, SocketEventSink } from './events.ts';
import {
  AddressFamily,
  ConnProtocol,
  createDecodeCounters,
  decodeRecords,
  formatAddress,
  LAYOUTS,
  RecordFlag,
  RecordOp,
  recordStride,
} from './records.ts';

const BPF_OBJECT = fileURLToPath(new URL('../../../native/out/socket_trace.bpf.o', import.meta.url));
const HEADER_FILE = fileURLToPath(new URL('../../../native/bpf/socket_trace.h', import.meta.url));

interface BtfMember {
  name: string;
  type_id: number;
  bits_offset: number;
}
interface BtfType {
  id: number;
  kind: string;
  name?: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: BtfMember[];
}

/** All BTF types of the built object, by id. Throws when the object is not built. */
function readBtf(): Map<number, BtfType> {
  if (!existsSync(BPF_OBJECT)) {
    throw new Error(`read BTF: ${BPF_OBJECT} is missing; build it with \`make -C native bpf\``);
  }
  const json = execFileSync('bpftool', ['btf', 'dump', 'file', BPF_OBJECT, '-j'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return new Map((JSON.parse(json) as { types: BtfType[] }).types.map((t) => [t.id, t]));
}

function typeSize(types: Map<number, BtfType>, id: number): number {
  const t = types.get(id);
  if (!t) throw new Error(`resolve BTF type ${id}: not found`);
  switch (t.kind) {
    case 'INT':
    case 'STRUCT':
    case 'UNION':
    case 'ENUM':
      return t.size ?? 0;
    case 'TYPEDEF':
    case 'CONST':
    case 'VOLATILE':
      return typeSize(types, t.type_id ?? 0);
    case 'ARRAY':
      return typeSize(types, t.type_id ?? 0) * (t.nr_elems ?? 0);
    default:
      throw new Error(`resolve BTF type ${id}: kind ${t.kind} not expected in a record`);
  }
}

function readHeaderDefines(): Map<string, number> {
  const defines = new Map<string, number>();
  for (const match of readFileSync(HEADER_FILE, 'utf8').matchAll(/^#define (WISP_\w+) (0x[0-9a-f]+|\d+)/gm)) {
    defines.set(match[1] as string, Number(match[2]));
  }
  return defines;
}

describe('record layouts', () => {
  describe('against the BTF of native/out/socket_trace.bpf.o', () => {
    const types = readBtf();
    const structs = new Map([...types.values()].filter((t) => t.kind === 'STRUCT').map((t) => [t.name ?? '', t]));
    for (const [name, layout] of Object.entries(LAYOUTS)) {
      describe(`struct ${name}`, () => {
        const btf = structs.get(name);
        it('exists in the object', () => assert.ok(btf, `struct ${name} not in BTF`));
        it('has the same size', () => assert.equal(btf?.size, layout.byteLength));
        it('has the same members at the same byte offsets', () => {
          const fromBtf = Object.fromEntries((btf?.members ?? []).map((m) => [m.name, m.bits_offset / 8]));
          assert.deepEqual(fromBtf, layout.fields);
        });
        it('has no implicit padding (members are contiguous)', () => {
          // Every byte belongs to a named member, so widths follow from offsets.
          let covered = 0;
          for (const m of btf?.members ?? []) {
            assert.equal(m.bits_offset / 8, covered, `${name}.${m.name} leaves a gap before it`);
            covered += typeSize(types, m.type_id);
          }
          assert.equal(covered, layout.byteLength, `${name} has tail padding`);
        });
      });
    }
  });

  describe('against the #defines of native/bpf/socket_trace.h', () => {
    const defines = readHeaderDefines();
    const expectEqual = (cName: string, value: number) => assert.equal(defines.get(cName), value, cName);
    it('agrees on op codes', () => {
      expectEqual('WISP_OP_CONN_OPEN', RecordOp.ConnOpen);
      expectEqual('WISP_OP_DATA', RecordOp.Data);
      expectEqual('WISP_OP_CONN_CLOSE', RecordOp.ConnClose);
      expectEqual('WISP_OP_PROC_EXIT', RecordOp.ProcExit);
      expectEqual('WISP_OP_DGRAM', RecordOp.Dgram);
    });
    it('agrees on flags', () => {
      expectEqual('WISP_FLAG_TRUNCATED', RecordFlag.Truncated);
      expectEqual('WISP_FLAG_NO_PAYLOAD', RecordFlag.NoPayload);
      expectEqual('WISP_FLAG_STALE', RecordFlag.Stale);
      expectEqual('WISP_FLAG_ADOPTED', RecordFlag.Adopted);
      expectEqual('WISP_FLAG_TLS', RecordFlag.Tls);
    });
    it('agrees on roles, directions and protocols', () => {
      expectEqual('WISP_ROLE_UNKNOWN', TraceRole.Unknown);
      expectEqual('WISP_ROLE_CLIENT', TraceRole.Client);
      expectEqual('WISP_ROLE_SERVER', TraceRole.Server);
      expectEqual('WISP_DIR_EGRESS', Direction.Egress);
      expectEqual('WISP_DIR_INGRESS', Direction.Ingress);
      expectEqual('WISP_PROTO_UNKNOWN', ConnProtocol.Unknown);
      expectEqual('WISP_PROTO_HTTP1', ConnProtocol.Http1);
      expectEqual('WISP_PROTO_REDIS', ConnProtocol.Redis);
      expectEqual('WISP_PROTO_DNS', ConnProtocol.Dns);
      expectEqual('WISP_PROTO_NOT_TRACED', ConnProtocol.NotTraced);
    });
  });
});

// ---- hand-built records -------------------------------------------------

const H = LAYOUTS.wisp_record_header.fields;

function header(view: DataView, at: number, op: number, size: number, tgid: number, fd: number, tsNs: number) {
  view.setUint16(at + H.op, op, true);
  view.setUint16(at + H.flags, 0, true);
  view.setUint32(at + H.size, size, true);
  view.setUint32(at + H.tgid, tgid, true);
  view.setUint32(at + H.fd, fd, true);
  view.setBigUint64(at + H.timestamp_ns, BigInt(tsNs), true);
}

class Writer {
  readonly bytes = new Uint8Array(4096);
  readonly view = new DataView(this.bytes.buffer);
  length = 0;

  open(connId: number, family: number, local: number[], remote: number[]): this {
    const O = LAYOUTS.wisp_conn_open_record.fields;
    const at = this.length;
    const size = LAYOUTS.wisp_conn_open_record.byteLength;
    header(this.view, at, RecordOp.ConnOpen, size, 100, 7, 1_000);
    this.view.setBigUint64(at + O.conn_id, BigInt(connId), true);
    this.view.setBigUint64(at + O.process_start_ns, 5n, true);
    this.view.setUint16(at + O.role, TraceRole.Server, true);
    this.view.setUint16(at + O.family, family, true);
    this.view.setUint16(at + O.local_port, 8080, true);
    this.view.setUint16(at + O.remote_port, 51000, true);
    this.bytes.set(local, at + O.local_addr);
    this.bytes.set(remote, at + O.remote_addr);
    this.view.setBigUint64(at + O.cgroup_id, 4242n, true);
    this.length += recordStride(size);
    return this;
  }

  data(connId: number, position: number, length: number, payload: string): this {
    const D = LAYOUTS.wisp_data_record.fields;
    const at = this.length;
    const bytes = new TextEncoder().encode(payload);
    const size = LAYOUTS.wisp_data_record.byteLength + bytes.byteLength;
    header(this.view, at, RecordOp.Data, size, 100, 7, 2_000);
    this.view.setBigUint64(at + D.conn_id, BigInt(connId), true);
    this.view.setBigUint64(at + D.position, BigInt(position), true);
    this.view.setUint32(at + D.length, length, true);
    this.view.setUint32(at + D.captured, bytes.byteLength, true);
    this.view.setUint16(at + D.direction, Direction.Ingress, true);
    this.bytes.set(bytes, at + LAYOUTS.wisp_data_record.byteLength);
    this.length += recordStride(size);
    return this;
  }

  close(connId: number): this {
    const C = LAYOUTS.wisp_conn_close_record.fields;
    const at = this.length;
    const size = LAYOUTS.wisp_conn_close_record.byteLength;
    header(this.view, at, RecordOp.ConnClose, size, 100, 7, 3_000);
    this.view.setBigUint64(at + C.conn_id, BigInt(connId), true);
    this.view.setBigUint64(at + C.bytes_sent, 10n, true);
    this.view.setBigUint64(at + C.bytes_received, 2n ** 40n, true);
    this.length += recordStride(size);
    return this;
  }

  procExit(pid: number, exitCode: number, comm: string): this {
    const X = LAYOUTS.wisp_proc_exit_record.fields;
    const at = this.length;
    const size = LAYOUTS.wisp_proc_exit_record.byteLength;
    header(this.view, at, RecordOp.ProcExit, size, pid, 0, 4_000);
    this.view.setBigUint64(at + X.process_start_ns, 77n, true);
    this.view.setUint32(at + X.exit_code, exitCode, true);
    this.bytes.set(new TextEncoder().encode(comm), at + X.comm);
    this.length += recordStride(size);
    return this;
  }

  dgram(direction: number, local: number[], localPort: number, remote: number[], remotePort: number, payload: Uint8Array): this {
    const G = LAYOUTS.wisp_dgram_record.fields;
    const at = this.length;
    const size = LAYOUTS.wisp_dgram_record.byteLength + payload.byteLength;
    header(this.view, at, RecordOp.Dgram, size, 200, 9, 5_000);
    this.view.setBigUint64(at + G.process_start_ns, 88n, true);
    this.view.setBigUint64(at + G.cgroup_id, 7n, true);
    this.view.setUint32(at + G.length, payload.byteLength + 100, true);
    this.view.setUint32(at + G.captured, payload.byteLength, true);
    this.view.setUint16(at + G.direction, direction, true);
    this.view.setUint16(at + G.protocol, 5, true);
    this.view.setUint16(at + G.family, AddressFamily.Inet6, true);
    this.view.setUint16(at + G.local_port, localPort, true);
    this.view.setUint16(at + G.remote_port, remotePort, true);
    this.bytes.set(local, at + G.local_addr);
    this.bytes.set(remote, at + G.remote_addr);
    this.bytes.set(payload, at + LAYOUTS.wisp_dgram_record.byteLength);
    this.length += recordStride(size);
    return this;
  }

  raw(op: number, size: number, stride = recordStride(Math.max(size, 24))): this {
    header(this.view, this.length, op, size, 1, 1, 1);
    this.length += stride;
    return this;
  }
}

class Recorder implements SocketEventSink {
  readonly events: (string | ConnOpenEvent | ConnCloseEvent | Record<string, unknown>)[] = [];
  onOpen(event: ConnOpenEvent): void {
    this.events.push(event);
  }
  onData(event: DataEvent): void {
    // `data` is a getter of the reused event (made on demand): read it here.
    this.events.push({ ...event, data: event.data, text: new TextDecoder().decode(event.data) });
  }
  onClose(event: ConnCloseEvent): void {
    this.events.push(event);
  }
}

describe('decodeRecords', () => {
  describe('with open, data and close records', () => {
    const w = new Writer()
      .open(1, AddressFamily.Inet, [127, 0, 0, 1], [10, 1, 2, 3])
      .data(1, 0, 100, 'GET / HTTP/1.1\r\n')
      .close(1);
    const sink = new Recorder();
    const counters = createDecodeCounters();
    const delivered = decodeRecords(w.bytes, w.length, sink, counters);

    it('delivers every record in order', () => {
      assert.equal(delivered, 3);
      assert.equal(counters.records, 3);
      assert.equal(sink.events.length, 3);
    });
    it('decodes the open event with rendered addresses', () => {
      assert.deepEqual(sink.events[0], {
        timestampNs: 1000,
        connId: 1,
        pid: 100,
        fd: 7,
        processStartNs: 5,
        role: TraceRole.Server,
        family: 4,
        localAddr: '127.0.0.1',
        localPort: 8080,
        remoteAddr: '10.1.2.3',
        remotePort: 51000,
        cgroupId: 4242,
      });
    });
    it('decodes the data event with a view of the captured bytes and a gap', () => {
      const data = sink.events[1] as Record<string, unknown>;
      assert.equal(data['text'], 'GET / HTTP/1.1\r\n');
      assert.equal(data['length'], 100);
      assert.equal(data['position'], 0);
      assert.equal(data['direction'], Direction.Ingress);
      assert.equal((data['data'] as Uint8Array).buffer, w.bytes.buffer, 'data is a view, not a copy');
      const start = data['payloadStart'] as number;
      assert.equal(data['payloadBuffer'], w.bytes, 'the zero-copy range is in the drain buffer');
      assert.equal(new TextDecoder().decode(w.bytes.subarray(start, start + (data['payloadBytes'] as number))), 'GET / HTTP/1.1\r\n');
    });
    it('decodes 64-bit counters of the close event', () => {
      const close = sink.events[2] as ConnCloseEvent;
      assert.equal(close.bytesSent, 10);
      assert.equal(close.bytesReceived, 2 ** 40);
    });
  });

  describe('with TLS records (WISP_FLAG_TLS)', () => {
    const w = new Writer().data(1, 0, 4, 'GET ').data(1, 4, 2, '/ ').close(1);
    const flagAt = (index: number): number => index * recordStride(LAYOUTS.wisp_data_record.byteLength + 4) + LAYOUTS.wisp_record_header.fields.flags;
    w.view.setUint16(flagAt(0), RecordFlag.Tls, true);
    const closeAt = 2 * recordStride(LAYOUTS.wisp_data_record.byteLength + 4);
    w.view.setUint16(closeAt + LAYOUTS.wisp_record_header.fields.flags, RecordFlag.Tls, true);
    w.view.setBigUint64(closeAt + LAYOUTS.wisp_conn_close_record.fields.tls_bytes_sent, 6n, true);
    w.view.setBigUint64(closeAt + LAYOUTS.wisp_conn_close_record.fields.tls_bytes_received, 9n, true);
    const sink = new Recorder();
    decodeRecords(w.bytes, w.length, sink, createDecodeCounters());

    it('marks plaintext data encrypted and socket data not, on the reused event', () => {
      assert.equal((sink.events[0] as Record<string, unknown>)['encrypted'], true);
      assert.equal((sink.events[1] as Record<string, unknown>)['encrypted'], false);
    });
    it('gives the close event the plaintext end positions beside the socket counters', () => {
      const close = sink.events[2] as ConnCloseEvent;
      assert.equal(close.tlsBytesSent, 6);
      assert.equal(close.tlsBytesReceived, 9);
      assert.equal(close.bytesSent, 10);
    });
    it('leaves the plaintext positions out of a close without the flag', () => {
      const plain = new Recorder();
      decodeRecords(new Writer().close(1).bytes, recordStride(LAYOUTS.wisp_conn_close_record.byteLength), plain, createDecodeCounters());
      assert.equal((plain.events[0] as ConnCloseEvent).tlsBytesSent, undefined);
    });
  });

  describe('with process exit records', () => {
    it('splits the wait status into exit status and signal and reads comm up to its NUL', () => {
      const w = new Writer().procExit(300, 3 << 8, 'exiter').procExit(301, 9, 'x'.repeat(16));
      const exits: ProcExitEvent[] = [];
      const sink = Object.assign(new Recorder(), { onProcExit: (e: ProcExitEvent) => exits.push(e) });
      assert.equal(decodeRecords(w.bytes, w.length, sink, createDecodeCounters()), 2);
      assert.deepEqual(exits, [
        { timestampNs: 4000, pid: 300, processStartNs: 77, exitStatus: 3, signal: 0, comm: 'exiter' },
        { timestampNs: 4000, pid: 301, processStartNs: 77, exitStatus: 0, signal: 9, comm: 'x'.repeat(16) },
      ]);
    });
    it('skips them for a sink without onProcExit', () => {
      const w = new Writer().procExit(300, 0, 'quiet').close(4);
      const counters = createDecodeCounters();
      assert.equal(decodeRecords(w.bytes, w.length, new Recorder(), counters), 1);
      assert.equal(counters.unknownOp, 0);
    });
  });

  describe('with datagram records', () => {
    const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 53];
    const local = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4];
    it('decodes addresses, ports and a view of the payload', () => {
      const w = new Writer().dgram(Direction.Egress, local, 40000, mapped, 53, Uint8Array.of(1, 2, 3));
      const dgrams: DgramEvent[] = [];
      const sink = Object.assign(new Recorder(), { onDgram: (e: DgramEvent) => dgrams.push({ ...e, data: e.data.slice() }) });
      assert.equal(decodeRecords(w.bytes, w.length, sink, createDecodeCounters()), 1);
      assert.deepEqual(dgrams, [{
        timestampNs: 5000, pid: 200, fd: 9, processStartNs: 88, cgroupId: 7, direction: Direction.Egress, protocol: 5, family: 6,
        localAddr: 'fd00::4', localPort: 40000, remoteAddr: '127.0.0.53', remotePort: 53, length: 103, data: Uint8Array.of(1, 2, 3),
      }]);
    });
    it('skips them for a sink without onDgram', () => {
      const w = new Writer().dgram(Direction.Ingress, local, 1, mapped, 2, Uint8Array.of(9)).close(4);
      const counters = createDecodeCounters();
      assert.equal(decodeRecords(w.bytes, w.length, new Recorder(), counters), 1);
      assert.equal(counters.unknownOp, 0);
    });
  });

  describe('with an unknown op code', () => {
    it('counts it and skips it by size', () => {
      const w = new Writer().raw(99, 40).close(2);
      const counters = createDecodeCounters();
      const sink = new Recorder();
      assert.equal(decodeRecords(w.bytes, w.length, sink, counters), 1);
      assert.equal(counters.unknownOp, 1);
      assert.equal((sink.events[0] as ConnCloseEvent).connId, 2);
    });
  });

  describe('with a record shorter than its op', () => {
    it('counts it and skips it by size', () => {
      const w = new Writer().raw(RecordOp.ConnOpen, 32).raw(RecordOp.Data, 40).close(3);
      const counters = createDecodeCounters();
      assert.equal(decodeRecords(w.bytes, w.length, new Recorder(), counters), 1);
      assert.equal(counters.shortRecord, 2);
    });
    it('counts a payload longer than the record as short', () => {
      const w = new Writer().data(1, 0, 10, 'GET ');
      w.view.setUint32(LAYOUTS.wisp_data_record.fields.captured, 4096, true);
      const counters = createDecodeCounters();
      assert.equal(decodeRecords(w.bytes, w.length, new Recorder(), counters), 0);
      assert.equal(counters.shortRecord, 1);
    });
  });

  describe('with a zero size', () => {
    it('stops instead of looping and counts the discarded bytes', () => {
      const w = new Writer().close(1).raw(RecordOp.Data, 0, 24).close(2);
      const counters = createDecodeCounters();
      assert.equal(decodeRecords(w.bytes, w.length, new Recorder(), counters), 1);
      assert.equal(counters.badSize, 1);
      assert.equal(counters.discardedBytes, w.length - recordStride(LAYOUTS.wisp_conn_close_record.byteLength));
    });
  });

  describe('with a truncated buffer', () => {
    it('delivers the whole records and counts the cut one', () => {
      const w = new Writer().close(1).close(2);
      const counters = createDecodeCounters();
      assert.equal(decodeRecords(w.bytes, w.length - 8, new Recorder(), counters), 1);
      assert.equal(counters.badSize, 1);
    });
    it('counts a trailing partial header', () => {
      const w = new Writer().close(1);
      const counters = createDecodeCounters();
      assert.equal(decodeRecords(w.bytes, w.length + 8, new Recorder(), counters), 1);
      assert.equal(counters.badSize, 1);
      assert.equal(counters.discardedBytes, 8);
    });
    it('handles an empty buffer', () => {
      const counters = createDecodeCounters();
      assert.equal(decodeRecords(new Uint8Array(0), 0, new Recorder(), counters), 0);
      assert.deepEqual(counters, createDecodeCounters());
    });
  });
});

describe('formatAddress', () => {
  const v6 = (text: string): Uint8Array => {
    // Test helper: expands a full 8-group address.
    const out = new Uint8Array(16);
    text.split(':').forEach((g, i) => {
      const n = parseInt(g, 16);
      out[2 * i] = n >> 8;
      out[2 * i + 1] = n & 0xff;
    });
    return out;
  };
  it('renders IPv4', () => assert.equal(formatAddress(new Uint8Array([192, 168, 0, 1]), AddressFamily.Inet), '192.168.0.1'));
  it('renders IPv4-mapped IPv6 as IPv4', () =>
    assert.equal(formatAddress(v6('0:0:0:0:0:ffff:7f00:1'), AddressFamily.Inet6), '127.0.0.1'));
  it('compresses the longest zero run', () =>
    assert.equal(formatAddress(v6('2001:db8:0:0:1:0:0:1'), AddressFamily.Inet6), '2001:db8::1:0:0:1'));
  it('renders loopback and unspecified', () => {
    assert.equal(formatAddress(v6('0:0:0:0:0:0:0:1'), AddressFamily.Inet6), '::1');
    assert.equal(formatAddress(v6('0:0:0:0:0:0:0:0'), AddressFamily.Inet6), '::');
  });
  it('does not compress a single zero group', () =>
    assert.equal(formatAddress(v6('2001:db8:0:1:1:1:1:1'), AddressFamily.Inet6), '2001:db8:0:1:1:1:1:1'));
  it('compresses a trailing run', () => assert.equal(formatAddress(v6('fe80:0:0:0:0:0:0:0'), AddressFamily.Inet6), 'fe80::'));
});
