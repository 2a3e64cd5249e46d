// HTTP/2 (h2c) over one connection: a frame parser and an HPACK decoder per
// direction, and the streams in flight, each paired by stream id into one
// HttpExchange (major_version 2) when both of its sides have ended. gRPC is
// HTTP/2 with content-type application/grpc*: its status comes from the
// trailers (or a Trailers-Only response) and its bodies are rendered by
// grpc-body.ts. Decisions and caveats: docs/adr/0015-http2-hpack-grpc.md.
//
// Bounds: maxStreams open streams and limits.maxPendingBytes of kept header
// text and body prefixes per connection (oldest stream dropped first, counted
// `stream_overflow.http2`); one header block of 4 × limits.maxHeaderBytes per
// direction; HPACK tables of at most HPACK_DEFAULTS.maxTableBytes each.
//
// Sync: a lost byte that the parser needed (see http2-frame.parser.ts) or any
// HPACK error stops the session: later header blocks cannot be decoded.

import { STATUS_CODES } from 'node:http';
import { utf8 } from '../../bytes.ts';
import type { ConnectionInfo, ProtocolSession, ProtocolSpec, SessionEnv } from '../protocol.ts';
import { InferResult, StreamSide } from '../protocol.ts';
import type { HttpExchange } from '../http1/http-exchange.ts';
import { HttpContentType } from '../http1/http-exchange.ts';
import { renderGrpcBody } from './grpc-body.ts';
import type { HpackError } from './hpack.decoder.ts';
import { DEFAULTS as HPACK_DEFAULTS, HeaderList, HpackDecoder } from './hpack.decoder.ts';
import type { FrameError, Http2FrameListener } from './http2-frame.parser.ts';
import { CLIENT_PREFACE, FrameType, Http2FrameParser } from './http2-frame.parser.ts';

export const DEFAULTS = Object.freeze({
  /** Streams in flight per connection (gRPC's usual concurrency limit is 100). */
  maxStreams: 256,
  /** Header block bound as a multiple of limits.maxHeaderBytes (HTTP/2 header lists are often larger than HTTP/1 heads). */
  headerBlockFactor: 4,
  /** Stream objects kept for reuse per session. */
  maxPooledStreams: 32,
});

/** gRPC status code names (grpc/doc/statuscodes.md), by code. */
const GRPC_STATUS_NAMES: readonly string[] = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE',
  'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

/** Fields of the block being handled, shared by all sessions: decoding and its use are synchronous. */
const FIELDS = new HeaderList();

/**
 * One side's body: the first maxBodyBytes captured (a contiguous prefix: a
 * gap ends the capture), the full size counted. The buffer is kept across
 * stream reuse.
 */
class BodySide {
  bytes: Uint8Array | null = null;
  captured = 0;
  size = 0;
  /** Buffer bytes counted in the stream's retained bytes since the last reset. */
  private counted = 0;

  /** Returns the bytes this call adds to what the stream retains (buffer growth). */
  append(data: Uint8Array | null, start: number, end: number, maxBytes: number): number {
    const length = end - start;
    this.size += length;
    if (data === null || this.captured >= maxBytes || this.captured < this.size - length) return 0;
    const take = Math.min(length, maxBytes - this.captured);
    const need = this.captured + take;
    if (this.bytes === null || this.bytes.length < need) {
      // Grown by doubling from a small start: most bodies (gRPC messages) are far below maxBytes.
      const grown = new Uint8Array(Math.min(maxBytes, Math.max(need, 64, 2 * (this.bytes?.length ?? 0))));
      if (this.bytes !== null) grown.set(this.bytes.subarray(0, this.captured));
      this.bytes = grown;
    }
    this.bytes.set(data.subarray(start, start + take), this.captured);
    this.captured = need;
    const added = this.bytes.length - this.counted;
    this.counted = this.bytes.length;
    return added;
  }

  reset(): void {
    this.captured = 0;
    this.size = 0;
    this.counted = 0;
  }
}

class Http2Stream {
  id = 0;
  reqSeen = false;
  reqEnded = false;
  reqStartNs = 0;
  method = '';
  path = '';
  reqHeaders = '{}';
  reqContentType: HttpContentType = HttpContentType.Unknown;
  respSeen = false;
  respEnded = false;
  respEndNs = 0;
  status = 0;
  respHeaders = '{}';
  respContentType: HttpContentType = HttpContentType.Unknown;
  /** grpc-status as sent (trailers, or a Trailers-Only response), '' when absent. */
  grpcStatus = '';
  readonly req = new BodySide();
  readonly resp = new BodySide();
  /** Header text and captured body bytes this stream keeps, for the pending bound. */
  retainedBytes = 0;

  reset(id: number): void {
    this.id = id;
    this.reqSeen = false;
    this.reqEnded = false;
    this.reqStartNs = 0;
    this.method = '';
    this.path = '';
    this.reqHeaders = '{}';
    this.reqContentType = HttpContentType.Unknown;
    this.respSeen = false;
    this.respEnded = false;
    this.respEndNs = 0;
    this.status = 0;
    this.respHeaders = '{}';
    this.respContentType = HttpContentType.Unknown;
    this.grpcStatus = '';
    this.req.reset();
    this.resp.reset();
    this.retainedBytes = 0;
  }
}

/** Routes one direction's frames to the session with its side. */
class SideListener implements Http2FrameListener {
  private readonly session: Http2Session;
  private readonly side: StreamSide;

  constructor(session: Http2Session, side: StreamSide) {
    this.session = session;
    this.side = side;
  }

  onHeaderBlock(streamId: number, endStream: boolean, promisedStreamId: number, block: Uint8Array, start: number, end: number, startNs: number, endNs: number): void {
    this.session.onHeaderBlock(this.side, streamId, endStream, promisedStreamId, block, start, end, startNs, endNs);
  }

  onData(streamId: number, bytes: Uint8Array | null, start: number, end: number, _timestampNs: number): void {
    this.session.onData(this.side, streamId, bytes, start, end);
  }

  onDataEndStream(streamId: number, timestampNs: number): void {
    this.session.onEndStream(this.side, streamId, timestampNs);
  }

  onRstStream(streamId: number, timestampNs: number): void {
    this.session.onRstStream(streamId, timestampNs);
  }

  onError(reason: FrameError): void {
    this.session.fail(reason === 'gap' ? 'gap_lost.http2' : `parse_error.http2.${reason}`);
  }
}

export class Http2Session implements ProtocolSession {
  private readonly conn: ConnectionInfo;
  private readonly env: SessionEnv;
  private readonly parsers: readonly [Http2FrameParser, Http2FrameParser];
  private readonly decoders: readonly [HpackDecoder, HpackDecoder];
  private readonly jsonCaches: readonly [HeadersJsonCache, HeadersJsonCache] = [new HeadersJsonCache(), new HeadersJsonCache()];
  /** Open streams by id, in creation order (Map order): the first is the oldest. */
  private readonly streams = new Map<number, Http2Stream>();
  private readonly pool: Http2Stream[] = [];
  private pendingBytes = 0;
  private done = false;

  constructor(conn: ConnectionInfo, env: SessionEnv) {
    this.conn = conn;
    this.env = env;
    const maxHeaderBlockBytes = DEFAULTS.headerBlockFactor * env.limits.maxHeaderBytes;
    this.parsers = [
      new Http2FrameParser({ clientPreface: true, maxHeaderBlockBytes }, new SideListener(this, StreamSide.Request)),
      new Http2FrameParser({ clientPreface: false, maxHeaderBlockBytes }, new SideListener(this, StreamSide.Response)),
    ];
    this.decoders = [new HpackDecoder(HPACK_DEFAULTS), new HpackDecoder(HPACK_DEFAULTS)];
  }

  get stopped(): boolean {
    return this.done;
  }

  retainedBytes(): number {
    return this.pendingBytes + this.parsers[0].retainedBytes() + this.parsers[1].retainedBytes()
      + this.decoders[0].dynamicTableBytes + this.decoders[1].dynamicTableBytes;
  }

  data(side: StreamSide, bytes: Uint8Array, start: number, end: number, timestampNs: number): void {
    if (this.done) return;
    this.parsers[side].push(bytes, start, end, timestampNs);
  }

  gap(side: StreamSide, lengthBytes: number, timestampNs: number): void {
    if (this.done) return;
    this.parsers[side].gap(lengthBytes, timestampNs);
  }

  close(_timestampNs: number): void {
    if (this.streams.size > 0) this.env.counters.inc('unmatched_request.http2', this.streams.size);
    this.release();
  }

  /** Stop for good: count why and the streams that will never complete. */
  fail(counter: string): void {
    if (this.done) return;
    this.env.counters.inc(counter);
    if (this.streams.size > 0) this.env.counters.inc('unmatched_request.http2', this.streams.size);
    this.release();
  }

  onHeaderBlock(side: StreamSide, streamId: number, endStream: boolean, promisedStreamId: number, block: Uint8Array, start: number, end: number, startNs: number, endNs: number): void {
    const fields = FIELDS;
    const error: HpackError | null = this.decoders[side].decode(block, start, end, fields);
    if (error !== null) {
      this.fail(`parse_error.http2.${error}`);
      return;
    }
    if (promisedStreamId !== 0) {
      // Decoded for the HPACK state; pushed responses are not recorded.
      this.env.counters.inc('push_promise.http2');
      return;
    }
    if (side === StreamSide.Request) this.requestHeaders(streamId, endStream, startNs);
    else this.responseHeaders(streamId, endStream, endNs);
  }

  onData(side: StreamSide, streamId: number, bytes: Uint8Array | null, start: number, end: number): void {
    const stream = this.streams.get(streamId);
    if (stream === undefined) return;
    const body = side === StreamSide.Request ? stream.req : stream.resp;
    const kept = body.append(bytes, start, end, this.env.limits.maxBodyBytes);
    if (kept > 0) this.retain(stream, kept);
  }

  onEndStream(side: StreamSide, streamId: number, timestampNs: number): void {
    const stream = this.streams.get(streamId);
    if (stream === undefined) return;
    if (side === StreamSide.Request) {
      stream.reqEnded = true;
    } else {
      stream.respEnded = true;
      stream.respEndNs = timestampNs;
    }
    if (stream.reqEnded && stream.respEnded) this.complete(stream);
  }

  /** Either side reset the stream: record what was exchanged if a response began. */
  onRstStream(streamId: number, timestampNs: number): void {
    const stream = this.streams.get(streamId);
    if (stream === undefined) return;
    if (stream.reqSeen && stream.respSeen) {
      this.env.counters.inc('stream_reset.http2');
      if (!stream.respEnded) stream.respEndNs = timestampNs;
      this.complete(stream);
      return;
    }
    this.env.counters.inc('stream_reset_unanswered.http2');
    this.forget(stream);
  }

  private requestHeaders(streamId: number, endStream: boolean, startNs: number): void {
    const fields = FIELDS;
    let stream = this.streams.get(streamId);
    if (stream === undefined) {
      stream = this.open(streamId);
      if (stream === undefined) return;
    }
    if (!stream.reqSeen) {
      stream.reqSeen = true;
      stream.reqStartNs = startNs;
      stream.method = fields.get(':method') ?? '';
      stream.path = fields.get(':path') ?? '';
      stream.reqContentType = contentTypeOf(fields.get('content-type'));
      stream.reqHeaders = this.jsonCaches[StreamSide.Request].json(fields);
      this.retain(stream, stream.reqHeaders.length);
    } else {
      // Request trailers.
      const trailers = headersJson(fields);
      stream.reqHeaders = mergeJson(stream.reqHeaders, trailers);
      this.retain(stream, trailers.length);
    }
    if (endStream) {
      stream.reqEnded = true;
      if (stream.respEnded) this.complete(stream);
    }
  }

  private responseHeaders(streamId: number, endStream: boolean, endNs: number): void {
    const fields = FIELDS;
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      // Pushed streams (even ids) are not recorded; an odd id means its request was never seen.
      if (streamId % 2 === 1) this.env.counters.inc('unmatched_response.http2');
      return;
    }
    if (!stream.respSeen) {
      const status = Number(fields.get(':status') ?? 0);
      if (status >= 100 && status < 200 && !endStream) {
        this.env.counters.inc('interim_response.http2');
        return;
      }
      stream.respSeen = true;
      stream.status = Number.isInteger(status) ? status : 0;
      stream.respContentType = contentTypeOf(fields.get('content-type'));
      stream.grpcStatus = fields.get('grpc-status') ?? '';
      stream.respHeaders = this.jsonCaches[StreamSide.Response].json(fields);
      this.retain(stream, stream.respHeaders.length);
    } else {
      const trailers = this.jsonCaches[StreamSide.Response].json(fields);
      stream.grpcStatus = fields.get('grpc-status') ?? stream.grpcStatus;
      stream.respHeaders = mergeJson(stream.respHeaders, trailers);
      this.retain(stream, trailers.length);
    }
    if (endStream) {
      stream.respEnded = true;
      stream.respEndNs = endNs;
      if (stream.reqEnded) this.complete(stream);
    }
  }

  private open(streamId: number): Http2Stream | undefined {
    if (streamId % 2 === 0) {
      // Client streams are odd (RFC 9113 §5.1.1); even ones belong to server push.
      this.env.counters.inc('parse_error.http2.even_stream_id');
      return undefined;
    }
    while (this.streams.size >= DEFAULTS.maxStreams) this.evictOldest();
    const stream = this.pool.pop() ?? new Http2Stream();
    stream.reset(streamId);
    this.streams.set(streamId, stream);
    return stream;
  }

  private retain(stream: Http2Stream, bytes: number): void {
    stream.retainedBytes += bytes;
    this.pendingBytes += bytes;
    while (this.pendingBytes > this.env.limits.maxPendingBytes && this.streams.size > 1) {
      const oldest = this.streams.values().next().value!;
      if (oldest === stream) break;
      this.evictOldest();
    }
  }

  private evictOldest(): void {
    const oldest = this.streams.values().next().value;
    if (oldest === undefined) return;
    this.env.counters.inc('stream_overflow.http2');
    this.forget(oldest);
  }

  private forget(stream: Http2Stream): void {
    this.streams.delete(stream.id);
    this.pendingBytes -= stream.retainedBytes;
    if (this.pool.length < DEFAULTS.maxPooledStreams) this.pool.push(stream);
  }

  private complete(stream: Http2Stream): void {
    const counters = this.env.counters;
    const grpc = stream.respContentType === HttpContentType.Grpc || stream.reqContentType === HttpContentType.Grpc;
    const contentType = stream.respContentType !== HttpContentType.Unknown ? stream.respContentType : stream.reqContentType;
    const onHttp = this.env.sinks.onHttp;
    counters.inc('records.http2');
    if (onHttp !== undefined) {
      const exchange: HttpExchange = {
        majorVersion: 2,
        minorVersion: 0,
        contentType,
        reqMethod: stream.method,
        reqPath: stream.path,
        reqHeaders: stream.reqHeaders,
        reqBody: renderBody(stream.req, grpc),
        reqBodySize: stream.req.size,
        respStatus: stream.status,
        respMessage: responseMessage(stream.status, stream.grpcStatus),
        respHeaders: stream.respHeaders,
        respBody: renderBody(stream.resp, grpc),
        respBodySize: stream.resp.size,
        reqStartNs: stream.reqStartNs,
        respEndNs: stream.respEndNs,
        latencyNs: stream.respEndNs - stream.reqStartNs,
      };
      try {
        onHttp.call(this.env.sinks, exchange, this.conn);
      } catch {
        counters.inc('sink_error.http2');
      }
    }
    this.forget(stream);
  }

  private release(): void {
    this.done = true;
    this.parsers[0].stop();
    this.parsers[1].stop();
    this.streams.clear();
    this.pool.length = 0;
    this.pendingBytes = 0;
  }
}

function renderBody(body: BodySide, grpc: boolean): string {
  if (body.size === 0 || body.bytes === null) return '';
  return grpc ? renderGrpcBody(body.bytes, body.captured, body.size) : utf8(body.bytes, 0, body.captured);
}

/** gRPC: the status code's name (e.g. NOT_FOUND) when grpc-status is present; otherwise the HTTP reason phrase. */
function responseMessage(status: number, grpcStatus: string): string {
  if (grpcStatus !== '') {
    const code = Number(grpcStatus);
    return GRPC_STATUS_NAMES[code] ?? `grpc-status ${grpcStatus}`;
  }
  return STATUS_CODES[status] ?? '';
}

function contentTypeOf(value: string | undefined): HttpContentType {
  if (value === undefined) return HttpContentType.Unknown;
  if (value.startsWith('application/grpc')) return HttpContentType.Grpc;
  return value.includes('json') ? HttpContentType.Json : HttpContentType.Unknown;
}

/** JSON string literal; plain text (the common case) without JSON.stringify. */
function quote(text: string): string {
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (c < 0x20 || c === 34 || c === 92) return JSON.stringify(text);
  }
  return `"${text}"`;
}

/**
 * The last few header lists of one direction with their JSON. Clients and
 * servers repeat the same header lists (HPACK-indexed fields even decode to
 * the very same strings), so most blocks reuse a JSON text instead of
 * building one: equal fields compare by identity first.
 */
class HeadersJsonCache {
  private readonly names: string[][] = [];
  private readonly values: string[][] = [];
  private readonly jsons: string[] = [];
  private next = 0;

  json(fields: HeaderList): string {
    const { names, values, count } = fields;
    for (let slot = 0; slot < this.jsons.length; slot++) {
      const n = this.names[slot]!;
      const v = this.values[slot]!;
      if (n.length !== count) continue;
      let k = 0;
      while (k < count && n[k] === names[k] && v[k] === values[k]) k++;
      if (k === count) return this.jsons[slot]!;
    }
    const json = headersJson(fields);
    const slot = this.next;
    this.next = (slot + 1) % JSON_CACHE_SLOTS;
    this.names[slot] = names.slice(0, count);
    this.values[slot] = values.slice(0, count);
    this.jsons[slot] = json;
    return json;
  }
}
const JSON_CACHE_SLOTS = 4;

/**
 * The fields as a JSON object, pseudo-headers included (as Pixie shows them);
 * repeated names are joined with ", " in order of appearance.
 */
export function headersJson(fields: HeaderList): string {
  const { names, values, count } = fields;
  let out = '{';
  for (let k = 0; k < count; k++) {
    const name = names[k]!;
    let seen = false;
    for (let j = 0; j < k && !seen; j++) seen = names[j] === name;
    if (seen) continue;
    let value = values[k]!;
    for (let j = k + 1; j < count; j++) if (names[j] === name) value += `, ${values[j]!}`;
    out += `${out.length === 1 ? '' : ','}${quote(name)}:${quote(value)}`;
  }
  return `${out}}`;
}

/** Headers then trailers as one JSON object (trailers follow; HTTP/2 forbids repeating pseudo-headers there). */
function mergeJson(headers: string, trailers: string): string {
  if (trailers.length <= 2) return headers;
  if (headers.length <= 2) return trailers;
  return `${headers.slice(0, -1)},${trailers.slice(1)}`;
}

/** A first SETTINGS frame header: 3-byte length (byte 2 checked apart: a multiple of 6), type, no flags, stream 0. */
const SETTINGS_HEADER: readonly number[] = [0, 0, 0, FrameType.Settings, 0, 0, 0, 0, 0];

/**
 * Inference: the client preface starts requests; a SETTINGS frame on stream
 * 0 as a connection's first bytes starts responses (servers that write their
 * SETTINGS before reading the preface, e.g. Node's).
 */
export function inferHttp2(bytes: Uint8Array, start: number, end: number): InferResult {
  const avail = end - start;
  const n = Math.min(avail, CLIENT_PREFACE.length);
  let preface = true;
  for (let k = 0; k < n && preface; k++) preface = bytes[start + k] === CLIENT_PREFACE[k];
  if (preface) return n === CLIENT_PREFACE.length ? InferResult.Request : InferResult.NeedMore;
  const m = Math.min(avail, SETTINGS_HEADER.length);
  for (let k = 0; k < m; k++) {
    const b = bytes[start + k]!;
    if (k === 2 ? b % 6 !== 0 : b !== SETTINGS_HEADER[k]) return InferResult.NoMatch;
  }
  return m === SETTINGS_HEADER.length ? InferResult.Response : InferResult.NeedMore;
}

export const http2Protocol: ProtocolSpec = Object.freeze({
  name: 'http2',
  maxInferBytes: CLIENT_PREFACE.length,
  infer: inferHttp2,
  createSession: (conn: ConnectionInfo, env: SessionEnv): ProtocolSession => new Http2Session(conn, env),
});
