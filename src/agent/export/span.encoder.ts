// Rows → OTLP spans, written straight from Arrow columns into per-resource
// protobuf buffers. One span per request row: kind from trace_role, end =
// time_, start = time_ − latency, OTel semantic-convention attribute names.
import type { RecordBatch } from 'apache-arrow';
import type { Vector } from '../../query/vector.ts';
import {
  column, columnAttribute, F, int64Words, keyField, SpanKind, StatusCode, stringSpan, wordsToNumber, type EncodedChunk,
} from './otlp.encoding.ts';
import { ProtoWriter } from './protobuf.writer.ts';
import { traceContextFrom } from './trace-context.ts';

/** Rows [from, to) of a record batch: the unit a pipeline reads (see TableCursor). */
export interface RowRange {
  readonly from: number;
  readonly to: number;
}

/** Resource (service, process, Kubernetes context) of the process a row's upid names. */
export interface ResourceResolver {
  resource(upid: string): Uint8Array;
}

/**
 * Collects encoded spans per resource and cuts them into chunks of at most
 * `chunkItems` spans (the unit the export queue holds and drops).
 */
export class SpanSink {
  readonly chunks: EncodedChunk[] = [];
  private readonly groups = new Map<Uint8Array, { writer: ProtoWriter; items: number }>();
  private readonly chunkItems: number;

  constructor(chunkItems: number) {
    this.chunkItems = chunkItems;
  }

  writer(resource: Uint8Array): ProtoWriter {
    let group = this.groups.get(resource);
    if (!group) {
      group = { writer: new ProtoWriter(), items: 0 };
      this.groups.set(resource, group);
    }
    return group.writer;
  }

  /** Call after each span written to writer(resource). */
  committed(resource: Uint8Array): void {
    const group = this.groups.get(resource)!;
    if (++group.items >= this.chunkItems) this.cut(resource, group);
  }

  /** Cuts the partial chunks; returns every chunk of this read. */
  finish(): EncodedChunk[] {
    for (const [resource, group] of this.groups) if (group.items > 0) this.cut(resource, group);
    return this.chunks;
  }

  private cut(resource: Uint8Array, group: { writer: ProtoWriter; items: number }): void {
    this.chunks.push({ resource, payload: group.writer.finish(), items: group.items });
    group.writer.reset();
    group.items = 0;
  }
}

const K = Object.freeze({
  method: keyField('http.request.method'),
  path: keyField('url.path'),
  query: keyField('url.query'),
  status: keyField('http.response.status_code'),
  serverAddress: keyField('server.address'),
  serverPort: keyField('server.port'),
  clientAddress: keyField('client.address'),
  clientPort: keyField('client.port'),
  peerAddress: keyField('network.peer.address'),
  peerPort: keyField('network.peer.port'),
  protocolVersion: keyField('network.protocol.version'),
});

const QUESTION = 0x3f;
const scratch = { bytes: new Uint8Array(0), start: 0, end: 0 };

/** Per-row randomness for span and trace ids (ids need uniqueness, not secrecy). */
const random = Math.random;

interface HttpColumns {
  time: Int32Array; latency: Int32Array; role: Int32Array; status: Int32Array;
  upid: Vector; method: Vector; path: Vector; headers: Vector;
  remoteAddr: Vector; remotePort: Vector; localAddr: Vector; localPort: Vector; major: Int32Array; minor: Int32Array;
}

function httpColumns(batch: RecordBatch): HttpColumns | undefined {
  const need = (name: string) => column(batch, name);
  const cols = {
    time: need('time_'), latency: need('latency'), role: need('trace_role'), status: need('resp_status'), upid: need('upid'),
    method: need('req_method'), path: need('req_path'), headers: need('req_headers'), remoteAddr: need('remote_addr'),
    remotePort: need('remote_port'), localAddr: need('local_addr'), localPort: need('local_port'), major: need('major_version'), minor: need('minor_version'),
  };
  for (const value of Object.values(cols)) if (!value) return undefined;
  const c = cols as Record<keyof typeof cols, Vector>;
  return {
    time: int64Words(c.time), latency: int64Words(c.latency), role: int64Words(c.role), status: int64Words(c.status),
    upid: c.upid, method: c.method, path: c.path, headers: c.headers, remoteAddr: c.remoteAddr, remotePort: c.remotePort,
    localAddr: c.localAddr, localPort: c.localPort, major: int64Words(c.major), minor: int64Words(c.minor),
  };
}

const decoder = new TextDecoder();

/** Whether header bytes may hold a traceparent or B3 header ("b3" or "traceparent", any case): skips the decode otherwise. */
function mayCarryContext(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end - 1; i++) {
    const c = bytes[i]! | 0x20;
    if (c === 0x62 /* b */ && bytes[i + 1] === 0x33 /* 3 */) return true;
    if (c === 0x74 /* t */ && end - i >= 11 && (bytes[i + 1]! | 0x20) === 0x72 && (bytes[i + 5]! | 0x20) === 0x70 && (bytes[i + 10]! | 0x20) === 0x74) return true;
  }
  return false;
}

/**
 * Encodes one span per http_events row of `rows` into `sink`; returns
 * the number of rows encoded. Name "METHOD /path"; SERVER spans are errors
 * from status 500, CLIENT spans from 400 (OTel HTTP conventions).
 */
export function encodeHttpSpans(batch: RecordBatch, rows: RowRange, resources: ResourceResolver, sink: SpanSink): number {
  const c = httpColumns(batch);
  if (!c) return 0;
  const upidCache = new Map<number, Uint8Array>();
  let encoded = 0;
  for (let row = rows.from; row < rows.to; row++) {
    const resource = resourceOf(c.upid, row, resources, upidCache);
    const out = sink.writer(resource);
    const server = c.role[row * 2] === 2;
    const status = c.status[row * 2]!;

    let context: { traceId: string; spanId: string } | undefined;
    if (stringSpan(c.headers, row, scratch) && mayCarryContext(scratch.bytes, scratch.start, scratch.end)) {
      context = traceContextFrom(decoder.decode(scratch.bytes.subarray(scratch.start, scratch.end)));
    }
    out.begin(F.spans);
    if (context) out.hexBytes(F.traceId, context.traceId);
    else out.randomBytes(F.traceId, 16, random);
    if (context && !server) out.hexBytes(F.spanId, context.spanId);
    else out.randomBytes(F.spanId, 8, random);
    if (context && server) out.hexBytes(F.parentSpanId, context.spanId);

    // name: "GET /path" (path without its query)
    stringSpan(c.path, row, scratch);
    const pathBytes = scratch.bytes;
    const pathStart = scratch.start;
    let pathEnd = scratch.start;
    while (pathEnd < scratch.end && pathBytes[pathEnd] !== QUESTION) pathEnd++;
    const queryEnd = scratch.end;
    out.begin(F.name);
    stringSpan(c.method, row, scratch);
    out.raw(scratch.bytes.subarray(scratch.start, scratch.end));
    if (pathEnd > pathStart) {
      out.raw(SPACE);
      out.raw(pathBytes.subarray(pathStart, pathEnd));
    }
    out.end();
    out.uint32(F.kind, server ? SpanKind.SERVER : SpanKind.CLIENT);
    const endHi = c.time[row * 2 + 1]!;
    const endLo = c.time[row * 2]! >>> 0;
    const latency = Math.max(0, wordsToNumber(c.latency, row));
    const latencyHi = Math.floor(latency / 0x100000000);
    const latencyLo = latency - latencyHi * 0x100000000;
    let startLo = endLo - latencyLo;
    let startHi = endHi - latencyHi;
    if (startLo < 0) { startLo += 0x100000000; startHi -= 1; }
    out.fixed64Parts(F.startTime, startHi, startLo);
    out.fixed64Parts(F.endTime, endHi, endLo);

    columnAttribute(out, F.spanAttributes, K.method, c.method, row, scratch);
    if (pathEnd > pathStart) {
      out.begin(F.spanAttributes); out.raw(K.path); out.begin(F.value); out.begin(F.stringValue);
      out.raw(pathBytes.subarray(pathStart, pathEnd));
      out.end(); out.end(); out.end();
    }
    if (queryEnd > pathEnd + 1) {
      out.begin(F.spanAttributes); out.raw(K.query); out.begin(F.value); out.begin(F.stringValue);
      out.raw(pathBytes.subarray(pathEnd + 1, queryEnd));
      out.end(); out.end(); out.end();
    }
    if (status > 0) {
      out.begin(F.spanAttributes); out.raw(K.status); out.begin(F.value); out.int64(F.intValue, status); out.end(); out.end();
    }
    const serverAddr = server ? c.localAddr : c.remoteAddr;
    const serverPort = server ? c.localPort : c.remotePort;
    columnAttribute(out, F.spanAttributes, K.serverAddress, serverAddr, row, scratch);
    columnAttribute(out, F.spanAttributes, K.serverPort, serverPort, row, scratch);
    if (server) {
      columnAttribute(out, F.spanAttributes, K.clientAddress, c.remoteAddr, row, scratch);
      columnAttribute(out, F.spanAttributes, K.clientPort, c.remotePort, row, scratch);
    }
    columnAttribute(out, F.spanAttributes, K.peerAddress, c.remoteAddr, row, scratch);
    columnAttribute(out, F.spanAttributes, K.peerPort, c.remotePort, row, scratch);
    const major = c.major[row * 2]!;
    out.begin(F.spanAttributes); out.raw(K.protocolVersion); out.begin(F.value);
    out.raw(major === 2 ? VERSION_2 : c.minor[row * 2] === 0 ? VERSION_10 : VERSION_11);
    out.end(); out.end();
    if (status >= (server ? 500 : 400)) {
      out.begin(F.status); out.uint32(F.statusCode, StatusCode.ERROR); out.end();
    }
    out.end();
    sink.committed(resource);
    encoded++;
  }
  return encoded;
}

const SPACE = new Uint8Array([0x20]);
const stringValueBytes = (text: string): Uint8Array => {
  const w = new ProtoWriter(16);
  w.string(F.stringValue, text);
  return w.finish();
};
const VERSION_10 = stringValueBytes('1.0');
const VERSION_11 = stringValueBytes('1.1');
const VERSION_2 = stringValueBytes('2');

function resourceOf(upid: Vector, row: number, resources: ResourceResolver, cache: Map<number, Uint8Array>): Uint8Array {
  // Dictionary-encoded upids resolve once per dictionary entry per batch.
  const code = upid.storage === 'dict' ? upid.codes[row]! : -1;
  if (code >= 0) {
    const hit = cache.get(code);
    if (hit) return hit;
  }
  stringSpan(upid, row, scratch);
  const resource = resources.resource(decoder.decode(scratch.bytes.subarray(scratch.start, scratch.end)));
  if (code >= 0) cache.set(code, resource);
  return resource;
}

/** How a table's or a script output's columns become a span (db-spans, scripts). */
export interface SpanMapping {
  /** Span name: the value of this column; absent or empty: `fallbackName`. */
  readonly nameColumn?: string;
  readonly fallbackName: string;
  /** column → attribute name. */
  readonly attributes: ReadonlyArray<readonly [column: string, attribute: string]>;
  /** Attributes with a fixed value (db.system.name). */
  readonly constants?: ReadonlyArray<readonly [attribute: string, value: string]>;
  /**
   * Protocol tables: server.address/port from the local side on server rows
   * (trace_role 2) and the remote side on client rows; network.peer.* from the remote side.
   */
  readonly connection?: boolean;
}

/**
 * Encodes one span per row of `rows` with `mapping`. Rows need time_; latency (ns) and trace_role (1 client, 2 server) are used
 * when present (else a zero-length INTERNAL span). Returns rows encoded.
 */
export function encodeMappedSpans(batch: RecordBatch, rows: RowRange, mapping: SpanMapping, resources: ResourceResolver, sink: SpanSink, noUpid: Uint8Array): number {
  const timeVector = column(batch, 'time_');
  if (!timeVector) return 0;
  const time = int64Words(timeVector);
  const latencyVector = column(batch, 'latency');
  const latency = latencyVector?.storage === 'bigint' ? int64Words(latencyVector) : undefined;
  const roleVector = column(batch, 'trace_role');
  const role = roleVector?.storage === 'bigint' ? int64Words(roleVector) : undefined;
  const upid = column(batch, 'upid');
  const name = mapping.nameColumn ? column(batch, mapping.nameColumn) : undefined;
  let connection: { localAddr: Vector; localPort: Vector; remoteAddr: Vector; remotePort: Vector } | undefined;
  const attributes: Array<[Uint8Array, Vector]> = [];
  for (const [col, attribute] of mapping.attributes) {
    const vector = column(batch, col);
    if (vector) attributes.push([keyField(attribute), vector]);
  }
  const constants = (mapping.constants ?? []).map(([key, value]) => {
    const w = new ProtoWriter(64);
    w.begin(F.spanAttributes); w.string(F.key, key); w.begin(F.value); w.string(F.stringValue, value); w.end(); w.end();
    return w.finish();
  });
  if (mapping.connection) {
    const [localAddr, localPort, remoteAddr, remotePort] = ['local_addr', 'local_port', 'remote_addr', 'remote_port'].map((c) => column(batch, c));
    if (localAddr && localPort && remoteAddr && remotePort) connection = { localAddr, localPort, remoteAddr, remotePort };
  }
  const fallbackName = new TextEncoder().encode(mapping.fallbackName);
  const upidCache = new Map<number, Uint8Array>();
  let encoded = 0;
  for (let row = rows.from; row < rows.to; row++) {
    const resource = upid && (upid.storage === 'dict' || upid.storage === 'utf8') ? resourceOf(upid, row, resources, upidCache) : noUpid;
    const out = sink.writer(resource);
    out.begin(F.spans);
    out.randomBytes(F.traceId, 16, random);
    out.randomBytes(F.spanId, 8, random);
    out.begin(F.name);
    if (name && stringSpan(name, row, scratch) && scratch.end > scratch.start) out.raw(scratch.bytes.subarray(scratch.start, scratch.end));
    else if (name?.storage === 'bigint') out.raw(new TextEncoder().encode(String(name.values[row])));
    else out.raw(fallbackName);
    out.end();
    const r = role ? role[row * 2] : 0;
    out.uint32(F.kind, r === 2 ? SpanKind.SERVER : r === 1 ? SpanKind.CLIENT : SpanKind.INTERNAL);
    const endHi = time[row * 2 + 1]!;
    const endLo = time[row * 2]! >>> 0;
    const ns = latency ? Math.max(0, wordsToNumber(latency, row)) : 0;
    const nsHi = Math.floor(ns / 0x100000000);
    let startLo = endLo - (ns - nsHi * 0x100000000);
    let startHi = endHi - nsHi;
    if (startLo < 0) { startLo += 0x100000000; startHi -= 1; }
    out.fixed64Parts(F.startTime, startHi, startLo);
    out.fixed64Parts(F.endTime, endHi, endLo);
    for (const constant of constants) out.raw(constant);
    for (const [key, vector] of attributes) columnAttribute(out, F.spanAttributes, key, vector, row, scratch);
    if (connection) {
      columnAttribute(out, F.spanAttributes, K.serverAddress, r === 2 ? connection.localAddr : connection.remoteAddr, row, scratch);
      columnAttribute(out, F.spanAttributes, K.serverPort, r === 2 ? connection.localPort : connection.remotePort, row, scratch);
      columnAttribute(out, F.spanAttributes, K.peerAddress, connection.remoteAddr, row, scratch);
      columnAttribute(out, F.spanAttributes, K.peerPort, connection.remotePort, row, scratch);
    }
    out.end();
    sink.committed(resource);
    encoded++;
  }
  return encoded;
}
