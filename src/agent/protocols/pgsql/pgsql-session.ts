// PostgreSQL (protocol 3.0) over one connection: frames both directions,
// queues what each request message expects back, and pairs backend messages
// with the queue head (the backend answers strictly in order).
//
// Records: one per simple Query (its CommandCompletes up to ReadyForQuery),
// one per Parse (ParseComplete or the error) and one per Execute (its text is
// the bound statement's, with the Bind's parameters). Bind, Describe, Sync and
// Close are tracked only to keep pairing right. After an ErrorResponse in the
// extended protocol the backend skips everything up to Sync; so does the
// queue. The startup packet, SSLRequest/GSSENCRequest (an 'N' answer keeps
// the session going; 'S'/'G' means TLS follows and parsing stops) and the
// authentication exchange produce no records.
//
// Gaps and invalid headers drop the queue; a side resumes at the first event
// that starts with a plausible message header, and a response that ended
// before the oldest queued request began cannot answer it (dropped, counted).

import type { ConnectionInfo, ProtocolSession, ProtocolSpec, SessionEnv } from '../protocol.ts';
import { InferResult, StreamSide } from '../protocol.ts';
import type { FrameFormat, FrameListener } from '../length-prefixed-framer.ts';
import { LengthPrefixedFramer } from '../length-prefixed-framer.ts';
import {
  CANCEL_REQUEST_CODE, CStringReader, GSSENC_REQUEST_CODE, MAX_MESSAGE_BYTES, PROTOCOL_3_0, REQUEST_TAGS, RESPONSE_TAGS,
  RepeatMemo, SSL_REQUEST_CODE, readInt16, readInt32, renderColumns, renderError, renderParameter,
} from './pgsql-messages.ts';
import type { PgsqlRecord } from './pgsql-record.ts';

/** What a queued request message waits for. */
const Expect = {
  Startup: 0, SslAnswer: 1, Query: 2, Parse: 3, Bind: 4, Describe: 5, Execute: 6, Sync: 7, Close: 8,
} as const;
type Expect = (typeof Expect)[keyof typeof Expect];

class Pending {
  readonly expect: Expect;
  readonly req: string;
  readonly startNs: number;
  /** Response text gathered so far (CommandComplete tags of a simple Query). */
  resp = '';
  columns = '';
  rows = 0;
  error = '';

  constructor(expect: Expect, req: string, startNs: number) {
    this.expect = expect;
    this.req = req;
    this.startNs = startNs;
  }
}

interface Statement { readonly query: string; readonly oids: readonly number[] }

/** Statements and portals remembered per connection; past this the map is cleared (counted). */
const MAX_NAMED = 256;

export class PgsqlSession implements ProtocolSession {
  private readonly conn: ConnectionInfo;
  private readonly env: SessionEnv;
  private readonly maxText: number;
  private readonly maxPending: number;
  private readonly requestFramer: LengthPrefixedFramer;
  private readonly responseFramer: LengthPrefixedFramer;
  private readonly pending: Pending[] = [];
  private readonly statements = new Map<string, Statement>();
  private readonly portals = new Map<string, string>();
  private readonly reader = new CStringReader();
  /** CommandComplete tags and RowDescription columns repeat per statement: decoded once while they do. */
  private readonly tagMemo = new RepeatMemo();
  private readonly columnsMemo = new RepeatMemo();
  /** The last single-command Query response (tag + columns), reused while both repeat. */
  private lastTag = '';
  private lastColumns = '';
  private lastResp = '';
  /** Request side: the next message is untagged (startup, SSLRequest). */
  private untagged = true;
  /** Response side: the next byte answers an SSLRequest/GSSENCRequest. */
  private sslAnswers = 0;
  /** Columns of the last portal Describe, for the Execute that follows. */
  private describedColumns = '';
  private readonly resyncing: [boolean, boolean] = [false, false];
  private done = false;

  constructor(conn: ConnectionInfo, env: SessionEnv) {
    this.conn = conn;
    this.env = env;
    this.maxText = env.limits.maxBodyBytes;
    this.maxPending = env.limits.maxPendingMessages * 8;
    const maxKept = Math.max(env.limits.maxHeaderBytes, env.limits.maxBodyBytes);
    const requestFormat: FrameFormat = {
      headerBytes: () => (this.untagged ? 4 : 5),
      bodyLength: (bytes, at) => {
        if (this.untagged) {
          const length = readInt32(bytes, at);
          return length >= 8 && length <= 10_000 ? length - 4 : -1;
        }
        const length = readInt32(bytes, at + 1);
        return REQUEST_TAGS[bytes[at]!] && length >= 4 && length <= MAX_MESSAGE_BYTES ? length - 4 : -1;
      },
    };
    const responseFormat: FrameFormat = {
      headerBytes: () => (this.sslAnswers > 0 ? 1 : 5),
      bodyLength: (bytes, at) => {
        if (this.sslAnswers > 0) return 0;
        const length = readInt32(bytes, at + 1);
        return RESPONSE_TAGS[bytes[at]!] && length >= 4 && length <= MAX_MESSAGE_BYTES ? length - 4 : -1;
      },
    };
    const requestListener: FrameListener = {
      onFrame: (head, headAt, body, start, end, bodyLength, startNs) => this.onRequest(head, headAt, body, start, end, bodyLength, startNs),
      onInvalidHeader: () => this.lostSync(StreamSide.Request, 'parse_error.pgsql.bad_request_header'),
    };
    const responseListener: FrameListener = {
      onFrame: (head, headAt, body, start, end, _bodyLength, _startNs, endNs) => this.onResponse(head[headAt]!, body, start, end, endNs),
      onInvalidHeader: () => this.lostSync(StreamSide.Response, 'parse_error.pgsql.bad_response_header'),
    };
    this.requestFramer = new LengthPrefixedFramer(requestFormat, requestListener, maxKept);
    this.responseFramer = new LengthPrefixedFramer(responseFormat, responseListener, maxKept);
  }

  get stopped(): boolean {
    return this.done;
  }

  retainedBytes(): number {
    let bytes = this.requestFramer.retainedBytes() + this.responseFramer.retainedBytes();
    for (const p of this.pending) bytes += 64 + p.req.length + p.resp.length;
    return bytes;
  }

  data(side: StreamSide, bytes: Uint8Array, start: number, end: number, timestampNs: number): void {
    if (this.done) return;
    const framer = side === StreamSide.Request ? this.requestFramer : this.responseFramer;
    let at = start;
    while (at < end && !this.done) {
      if (this.resyncing[side]) {
        // Resume only where an event starts with a plausible header.
        if (at !== start || !this.plausibleHeader(side, bytes, at, end)) {
          this.env.counters.inc('resync_skipped_bytes.pgsql', end - at);
          return;
        }
        this.resyncing[side] = false;
      }
      at = framer.push(bytes, at, end, timestampNs);
    }
  }

  gap(side: StreamSide, _lengthBytes: number, _timestampNs: number): void {
    if (this.done) return;
    this.lostSync(side, 'gap.pgsql');
  }

  close(_timestampNs: number): void {
    let unmatched = 0;
    for (const p of this.pending) if (p.expect === Expect.Query || p.expect === Expect.Parse || p.expect === Expect.Execute) unmatched++;
    if (unmatched > 0) this.env.counters.inc('unmatched_request.pgsql', unmatched);
    this.pending.length = 0;
    this.statements.clear();
    this.portals.clear();
    this.done = true;
  }

  private lostSync(side: StreamSide, reason: string): void {
    this.env.counters.inc(reason);
    this.dropPending();
    this.requestFramer.reset();
    this.responseFramer.reset();
    this.untagged = false;
    this.sslAnswers = 0;
    this.resyncing[side] = true;
  }

  private dropPending(): void {
    if (this.pending.length > 0) this.env.counters.inc('unmatched_request.pgsql', this.pending.length);
    this.pending.length = 0;
  }

  private plausibleHeader(side: StreamSide, bytes: Uint8Array, at: number, end: number): boolean {
    if (end - at < 5) return false;
    const tags = side === StreamSide.Request ? REQUEST_TAGS : RESPONSE_TAGS;
    const length = readInt32(bytes, at + 1);
    return tags[bytes[at]!] === 1 && length >= 4 && length <= MAX_MESSAGE_BYTES;
  }

  private enqueue(expect: Expect, req: string, startNs: number): void {
    if (this.pending.length >= this.maxPending) {
      this.env.counters.inc('pending_overflow.pgsql');
      this.dropPending();
      this.resyncing[StreamSide.Response] = true;
    }
    this.pending.push(new Pending(expect, req, startNs));
  }

  // --- request side

  private onRequest(head: Uint8Array, headAt: number, body: Uint8Array, start: number, end: number, bodyLength: number, startNs: number): void {
    if (this.untagged) {
      this.onUntagged(body, start, end, startNs);
      return;
    }
    const maxText = this.maxText;
    const reader = this.reader.reset(body, start, end);
    switch (head[headAt]) {
      case 0x51: // 'Q' Query
        this.enqueue(Expect.Query, reader.next(maxText), startNs);
        break;
      case 0x50: { // 'P' Parse
        const name = reader.next(256);
        const query = reader.next(maxText);
        const oids: number[] = [];
        if (end - reader.at >= 2) {
          const n = readInt16(body, reader.at);
          for (let k = 0, at = reader.at + 2; k < n && at + 4 <= end; k++, at += 4) oids.push(readInt32(body, at));
        }
        this.remember(this.statements, name, { query, oids }, 'statements_overflow.pgsql');
        this.enqueue(Expect.Parse, query, startNs);
        break;
      }
      case 0x42: { // 'B' Bind
        const portal = reader.next(256);
        const statement = this.statements.get(reader.next(256));
        const text = this.renderBind(body, reader.at, end, bodyLength > end - start, statement);
        this.remember(this.portals, portal, text, 'portals_overflow.pgsql');
        this.enqueue(Expect.Bind, '', startNs);
        break;
      }
      case 0x44: // 'D' Describe
        this.enqueue(Expect.Describe, '', startNs);
        break;
      case 0x45: { // 'E' Execute
        const portal = reader.next(256);
        this.enqueue(Expect.Execute, this.portals.get(portal) ?? '', startNs);
        break;
      }
      case 0x53: // 'S' Sync
        this.enqueue(Expect.Sync, '', startNs);
        break;
      case 0x43: { // 'C' Close
        const kind = body[start];
        reader.at++;
        const name = reader.next(256);
        if (kind === 0x53) this.statements.delete(name); else this.portals.delete(name);
        this.enqueue(Expect.Close, '', startNs);
        break;
      }
      default: // Flush, Terminate, password/SASL, COPY data, FunctionCall: no record
    }
  }

  private onUntagged(body: Uint8Array, start: number, end: number, startNs: number): void {
    const code = end - start >= 4 ? readInt32(body, start) : -1;
    if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
      this.sslAnswers++;
      this.enqueue(Expect.SslAnswer, '', startNs);
      return;
    }
    this.untagged = false;
    if (code === CANCEL_REQUEST_CODE) {
      this.env.counters.inc('cancel_request.pgsql');
      return;
    }
    if (code !== PROTOCOL_3_0) this.env.counters.inc('parse_error.pgsql.unknown_startup');
    this.enqueue(Expect.Startup, '', startNs);
  }

  /** The bound statement's text with " PARAMETERS: [..]" (see PgsqlRecord.req). */
  private renderBind(body: Uint8Array, at: number, end: number, cut: boolean, statement: Statement | undefined): string {
    const maxText = this.maxText;
    let text = statement?.query ?? '';
    if (end - at < 2) return text;
    const formatCount = readInt16(body, at);
    const formatsAt = at + 2;
    at = formatsAt + 2 * Math.max(0, formatCount);
    if (end - at < 2) return text;
    const count = readInt16(body, at);
    at += 2;
    if (count <= 0) return text;
    let params = '';
    for (let k = 0; k < count; k++) {
      if (params.length >= maxText || end - at < 4) {
        params += k === 0 ? '…' : ', …';
        break;
      }
      const length = readInt32(body, at);
      at += 4;
      const format = formatCount === 0 ? 0 : readInt16(body, formatsAt + 2 * (formatCount === 1 ? 0 : k));
      let value: string;
      if (length < 0) value = 'NULL';
      else if (length > end - at) value = `${renderParameter(body, at, end - at, format === 1, statement?.oids[k] ?? 0, maxText)}…`;
      else value = renderParameter(body, at, length, format === 1, statement?.oids[k] ?? 0, maxText);
      params += (k === 0 ? '' : ', ') + value;
      if (length > 0) at += length;
    }
    text += ` PARAMETERS: [${params}${cut && !params.endsWith('…') ? ', …' : ''}]`;
    return text.length > maxText * 2 ? text.slice(0, maxText * 2) : text;
  }

  private remember<T>(map: Map<string, T>, name: string, value: T, overflow: string): void {
    if (map.size >= MAX_NAMED && !map.has(name)) {
      this.env.counters.inc(overflow);
      map.clear();
    }
    map.set(name, value);
  }

  // --- response side

  private onResponse(tag: number, body: Uint8Array, start: number, end: number, endNs: number): void {
    if (this.sslAnswers > 0) {
      this.sslAnswers--;
      const head = this.pending[0];
      if (head?.expect === Expect.SslAnswer) this.pending.shift();
      if (tag !== 0x4e) { // 'N': no encryption, plaintext continues
        this.env.counters.inc('encrypted.pgsql');
        this.close(endNs);
      }
      return;
    }
    let head = this.pending[0];
    // A response that ended before the head request began answers a request that was never seen.
    while (head !== undefined && head.startNs > endNs) {
      this.pending.shift();
      this.env.counters.inc('unmatched_request.pgsql');
      head = this.pending[0];
    }
    switch (tag) {
      case 0x53: case 0x4e: case 0x41: case 0x4b: case 0x52: // ParameterStatus, Notice, Notification, BackendKeyData, Authentication
        return;
      case 0x5a: // 'Z' ReadyForQuery: ends a Query, a Sync or the startup
        this.onReadyForQuery(endNs);
        return;
      case 0x45: // 'E' ErrorResponse
        this.onError(renderError(body, start, end, this.maxText), endNs);
        return;
    }
    if (head === undefined) {
      this.env.counters.inc('unmatched_response.pgsql');
      return;
    }
    switch (tag) {
      case 0x54: // 'T' RowDescription
        if (head.expect === Expect.Query || head.expect === Expect.Execute) head.columns = this.columns(body, start, end);
        else if (head.expect === Expect.Describe) {
          this.describedColumns = this.columns(body, start, end);
          this.pending.shift();
        }
        return;
      case 0x44: // 'D' DataRow
        head.rows++;
        return;
      case 0x43: { // 'C' CommandComplete
        const tagText = this.tagMemo.get(body, start, end)
          ?? this.tagMemo.set(body, start, end, this.reader.reset(body, start, end).next(this.maxText));
        if (head.expect === Expect.Query) {
          if (head.resp === '') head.resp = this.singleResp(tagText, head.columns);
          else head.resp += '; ' + tagText + head.columns;
          head.columns = '';
        } else if (head.expect === Expect.Execute) {
          this.pending.shift();
          this.emit('Execute', head, this.singleResp(tagText, head.columns || this.takeDescribed()), endNs);
        } else this.env.counters.inc('unmatched_response.pgsql');
        return;
      }
      case 0x49: // 'I' EmptyQueryResponse
        if (head.expect === Expect.Query) head.resp += (head.resp ? '; ' : '') + 'EMPTY QUERY';
        else if (head.expect === Expect.Execute) {
          this.pending.shift();
          this.emit('Execute', head, 'EMPTY QUERY', endNs);
        }
        return;
      case 0x73: // 's' PortalSuspended
        if (head.expect === Expect.Execute) {
          this.pending.shift();
          this.emit('Execute', head, `PORTAL SUSPENDED ${head.rows}${this.takeDescribed()}`, endNs);
        }
        return;
      case 0x31: // '1' ParseComplete
        if (head.expect === Expect.Parse) {
          this.pending.shift();
          this.emit('Parse', head, 'PARSE COMPLETE', endNs);
        } else this.env.counters.inc('unmatched_response.pgsql');
        return;
      case 0x32: // '2' BindComplete
      case 0x33: // '3' CloseComplete
        if (head.expect === (tag === 0x32 ? Expect.Bind : Expect.Close)) this.pending.shift();
        else this.env.counters.inc('unmatched_response.pgsql');
        return;
      case 0x6e: // 'n' NoData
        if (head.expect === Expect.Describe) {
          this.describedColumns = '';
          this.pending.shift();
        }
        return;
      default: // ParameterDescription, COPY, function call results: part of the head's answer
    }
  }

  /** A RowDescription's column names (renderColumns), reusing the last rendering while the bytes repeat. */
  private columns(body: Uint8Array, start: number, end: number): string {
    return this.columnsMemo.get(body, start, end) ?? this.columnsMemo.set(body, start, end, renderColumns(body, start, end, this.maxText));
  }

  /** tag + columns, the same string as last time when both are (memoized strings: mostly a pointer compare). */
  private singleResp(tag: string, columns: string): string {
    if (tag !== this.lastTag || columns !== this.lastColumns) {
      this.lastTag = tag;
      this.lastColumns = columns;
      this.lastResp = tag + columns;
    }
    return this.lastResp;
  }

  private takeDescribed(): string {
    const columns = this.describedColumns;
    this.describedColumns = '';
    return columns;
  }

  private onReadyForQuery(endNs: number): void {
    // Pop through the first entry ReadyForQuery can end; anything before it went unanswered.
    while (this.pending.length > 0) {
      const p = this.pending.shift()!;
      if (p.expect === Expect.Query) {
        this.emit('Query', p, p.error || p.resp, endNs);
        return;
      }
      if (p.expect === Expect.Sync || p.expect === Expect.Startup) return;
      if (p.expect === Expect.Parse || p.expect === Expect.Execute) this.env.counters.inc('unmatched_request.pgsql');
    }
  }

  private onError(message: string, endNs: number): void {
    const pending = this.pending;
    const head = pending[0];
    if (head === undefined) {
      this.env.counters.inc('unmatched_response.pgsql');
      return;
    }
    if (head.expect === Expect.Query) {
      head.error = head.resp ? `${head.resp}; ${message}` : message;
      return;
    }
    if (head.expect === Expect.Startup) {
      pending.shift();
      this.env.counters.inc('startup_error.pgsql');
      return;
    }
    // Extended protocol: the backend skips to Sync. The error belongs to the
    // Parse it answers, else to the Execute the failed Bind/Describe/Execute led to.
    let owner: Pending | undefined;
    let ownerCmd = '';
    while (pending.length > 0 && pending[0]!.expect !== Expect.Sync && pending[0]!.expect !== Expect.Query) {
      const p = pending.shift()!;
      if (owner === undefined && (p.expect === Expect.Parse || p.expect === Expect.Execute)) {
        owner = p;
        ownerCmd = p.expect === Expect.Parse ? 'Parse' : 'Execute';
      }
    }
    if (owner === undefined) {
      this.env.counters.inc('unmatched_response.pgsql');
      return;
    }
    this.emit(ownerCmd, owner, message, endNs);
  }

  private emit(reqCmd: string, p: Pending, resp: string, endNs: number): void {
    const startNs = p.startNs;
    const counters = this.env.counters;
    counters.inc('records.pgsql');
    const onPgsql = this.env.sinks.onPgsql;
    if (onPgsql === undefined) return;
    const record: PgsqlRecord = {
      reqCmd,
      req: p.req,
      resp: resp.length > this.maxText * 2 ? resp.slice(0, this.maxText * 2) : resp,
      reqStartNs: startNs,
      respEndNs: endNs,
      latencyNs: endNs - startNs,
    };
    try {
      onPgsql.call(this.env.sinks, record, this.conn);
    } catch {
      counters.inc('sink_error.pgsql');
    }
  }
}

/**
 * Inference on the first bytes a client sends: a StartupMessage (length,
 * protocol 3.0) or an SSLRequest/GSSENCRequest (length 8, request code).
 * Backends never speak first, so only the request side is recognised.
 * Twin: the PostgreSQL case of infer_protocol() in native/bpf/socket_trace.bpf.c,
 * kept in agreement by test/bpf/sql-inference-twins.test.ts.
 */
export function inferPgsql(bytes: Uint8Array, start: number, end: number): InferResult {
  const n = end - start;
  // Lengths are at most 10,000: the two high bytes are zero.
  if ((n >= 1 && bytes[start] !== 0) || (n >= 2 && bytes[start + 1] !== 0)) return InferResult.NoMatch;
  if (n < 8) return InferResult.NeedMore;
  const length = readInt32(bytes, start);
  if (length < 8 || length > 10_000) return InferResult.NoMatch;
  const code = readInt32(bytes, start + 4);
  if (code === PROTOCOL_3_0) return InferResult.Request;
  if (length === 8 && (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE)) return InferResult.Request;
  return InferResult.NoMatch;
}

export const pgsqlProtocol: ProtocolSpec = Object.freeze({
  name: 'pgsql',
  maxInferBytes: 8,
  infer: inferPgsql,
  createSession: (conn: ConnectionInfo, env: SessionEnv): ProtocolSession => new PgsqlSession(conn, env),
});
