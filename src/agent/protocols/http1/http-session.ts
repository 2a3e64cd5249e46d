// HTTP/1.x over one connection: a request parser and a response parser, and
// FIFO pairing of their messages into HttpExchange records (pipelining keeps
// order, RFC 9112 §9.3.2). Interim 1xx responses are skipped; 101 and a 2xx
// answer to CONNECT end HTTP/1 parsing for the connection.
//
// Pairing is by order, checked by time: a response that ended before the head
// request of the queue started cannot answer it and is dropped. After either
// side loses sync (gap or parse error) order alone is no longer trusted until
// both queues drain: each response then pairs with the latest request that
// started before it ended (exact for non-pipelined traffic).

import type { ConnectionInfo, ProtocolSession, ProtocolSpec, SessionEnv } from '../protocol.ts';
import { InferResult, StreamSide } from '../protocol.ts';
import type { HttpExchange } from './http-exchange.ts';
import { HttpContentType } from './http-exchange.ts';
import type { HttpMessage, HttpParserListener, HttpParserOptions } from './http.parser.ts';
import { DEFAULTS as PARSER_DEFAULTS, HttpMessageKind, HttpParser, looksLikeMessageStart } from './http.parser.ts';

export class Http1Session implements ProtocolSession, HttpParserListener {
  private readonly conn: ConnectionInfo;
  private readonly env: SessionEnv;
  private readonly requestParser: HttpParser;
  private readonly responseParser: HttpParser;
  /** Requests whose head is parsed, oldest first (the last may still be receiving its body). */
  private readonly requests: HttpMessage[] = [];
  /** Complete final responses waiting for their request. */
  private readonly responses: HttpMessage[] = [];
  private pendingBytes = 0;
  private desynced = false;
  private done = false;

  constructor(conn: ConnectionInfo, env: SessionEnv) {
    this.conn = conn;
    this.env = env;
    const options: HttpParserOptions = {
      ...PARSER_DEFAULTS,
      maxBodyBytes: env.limits.maxBodyBytes,
      maxHeaderBytes: env.limits.maxHeaderBytes,
    };
    this.requestParser = new HttpParser(HttpMessageKind.Request, options, this, env.counters);
    this.responseParser = new HttpParser(HttpMessageKind.Response, options, this, env.counters);
  }

  get stopped(): boolean {
    return this.done;
  }

  retainedBytes(): number {
    return this.pendingBytes + this.requestParser.retainedBytes() + this.responseParser.retainedBytes();
  }

  data(side: StreamSide, bytes: Uint8Array, start: number, end: number, timestampNs: number): void {
    if (this.done) return;
    (side === StreamSide.Request ? this.requestParser : this.responseParser).push(bytes, start, end, timestampNs);
  }

  gap(side: StreamSide, lengthBytes: number, timestampNs: number): void {
    if (this.done) return;
    (side === StreamSide.Request ? this.requestParser : this.responseParser).gap(lengthBytes, timestampNs);
  }

  close(_timestampNs: number): void {
    this.requestParser.end();
    this.responseParser.end();
    this.pair();
    const counters = this.env.counters;
    if (this.requests.length > 0) counters.inc('unmatched_request.http1', this.requests.length);
    if (this.responses.length > 0) counters.inc('unmatched_response.http1', this.responses.length);
    this.requests.length = 0;
    this.responses.length = 0;
    this.pendingBytes = 0;
    this.done = true;
  }

  // --- HttpParserListener

  onHead(msg: HttpMessage): void {
    if (msg.kind === HttpMessageKind.Request) {
      this.requests.push(msg);
      this.pendingBytes += msg.retainedBytes;
      this.enforceBounds();
      return;
    }
    // The response being parsed answers the request after those already answered.
    const req = this.requests[this.responses.length];
    if (req !== undefined) msg.requestMethod = req.method;
  }

  onMessage(msg: HttpMessage): void {
    if (msg.kind === HttpMessageKind.Request) {
      // The captured body is retained from now on, if the request is still queued.
      if (this.requests.includes(msg)) this.pendingBytes += msg.body.length;
      this.pair();
      return;
    }
    if (msg.status < 200 && msg.status !== 101) {
      this.env.counters.inc('interim_response.http1');
      return;
    }
    this.responses.push(msg);
    this.pendingBytes += msg.retainedBytes;
    this.pair();
    this.enforceBounds();
    if (this.responseParser.stopped) {
      // Upgrade or tunnel: the bytes that follow are another protocol.
      this.env.counters.inc('upgraded.http1');
      this.requestParser.stop();
      this.done = true;
    }
  }

  onAbort(msg: HttpMessage): void {
    if (msg.kind !== HttpMessageKind.Request) return;
    const at = this.requests.lastIndexOf(msg);
    if (at >= 0) {
      this.requests.splice(at, 1);
      this.pendingBytes -= msg.retainedBytes;
    }
  }

  onResync(_kind: HttpMessageKind): void {
    this.desynced = true;
  }

  // --- pairing

  private pair(): void {
    const requests = this.requests;
    const responses = this.responses;
    const counters = this.env.counters;
    while (responses.length > 0) {
      const resp = responses[0]!;
      let req = requests[0];
      if (req === undefined) break;
      if (req.startNs > resp.endNs) {
        // Ended before the oldest request began: its request was never seen.
        responses.shift();
        this.pendingBytes -= resp.retainedBytes;
        counters.inc('unmatched_response.http1');
        continue;
      }
      if (this.desynced) {
        while (requests.length > 1 && requests[1]!.startNs <= resp.endNs && requests[1]!.complete) {
          const lost = requests.shift()!;
          this.pendingBytes -= lost.retainedBytes;
          counters.inc('unmatched_request.http1');
        }
        req = requests[0]!;
      }
      if (!req.complete) break;
      requests.shift();
      responses.shift();
      this.pendingBytes -= req.retainedBytes + resp.retainedBytes;
      this.emit(req, resp);
    }
    if (this.desynced && requests.length === 0 && responses.length === 0) this.desynced = false;
  }

  /** Keep the queues within count and byte bounds by dropping the oldest; order is then suspect. */
  private enforceBounds(): void {
    const limits = this.env.limits;
    const counters = this.env.counters;
    for (;;) {
      let queue: HttpMessage[] | null = null;
      if (this.responses.length > limits.maxPendingMessages) queue = this.responses;
      else if (this.requests.length > limits.maxPendingMessages) queue = this.requests;
      else if (this.pendingBytes > limits.maxPendingBytes) {
        // Keep the newest request: it may be the one still being received.
        if (this.responses.length > 0) queue = this.responses;
        else if (this.requests.length > 1) queue = this.requests;
      }
      if (queue === null) return;
      const dropped = queue.shift()!;
      this.pendingBytes -= dropped.retainedBytes;
      counters.inc('pending_overflow.http1');
      this.desynced = true;
    }
  }

  private emit(req: HttpMessage, resp: HttpMessage): void {
    const counters = this.env.counters;
    const onHttp = this.env.sinks.onHttp;
    counters.inc('records.http1');
    if (onHttp === undefined) return;
    const exchange: HttpExchange = {
      majorVersion: req.major,
      minorVersion: req.minor,
      contentType: resp.contentType !== HttpContentType.Unknown ? resp.contentType : req.contentType,
      reqMethod: req.method,
      reqPath: req.target,
      reqHeaders: req.headersJson,
      reqBody: req.body,
      reqBodySize: req.bodySize,
      respStatus: resp.status,
      respMessage: resp.reason,
      respHeaders: resp.headersJson,
      respBody: resp.body,
      respBodySize: resp.bodySize,
      reqStartNs: req.startNs,
      respEndNs: resp.endNs,
      latencyNs: resp.endNs - req.startNs,
    };
    try {
      onHttp.call(this.env.sinks, exchange, this.conn);
    } catch {
      counters.inc('sink_error.http1');
    }
  }
}

/** Inference: a known method + SP starts requests, "HTTP/1." starts responses. */
export function inferHttp1(bytes: Uint8Array, start: number, end: number): InferResult {
  const req = looksLikeMessageStart(HttpMessageKind.Request, bytes, start, end);
  if (req === 1) return InferResult.Request;
  const resp = looksLikeMessageStart(HttpMessageKind.Response, bytes, start, end);
  if (resp === 1) return InferResult.Response;
  return req === 0 || resp === 0 ? InferResult.NeedMore : InferResult.NoMatch;
}

export const http1Protocol: ProtocolSpec = Object.freeze({
  name: 'http1',
  maxInferBytes: 8, // "OPTIONS " / "CONNECT "
  infer: inferHttp1,
  createSession: (conn: ConnectionInfo, env: SessionEnv): ProtocolSession => new Http1Session(conn, env),
});
