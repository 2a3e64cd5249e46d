// MySQL/MariaDB over one connection: frames both directions into packets
// (3-byte length, sequence id), reads capabilities from the handshake, and
// pairs each command (a request packet with sequence id 0) with the response
// packets that follow it (sequence ids 1, 2, …).
//
// The server speaks first: its greeting (protocol 10) and the client's
// handshake response give the capabilities (CLIENT_DEPRECATE_EOF decides how
// a result set ends); the rest of the authentication exchange is skipped
// (request packets with a non-zero sequence id; response packets while no
// command waits). A client that asks for TLS ends parsing (counted).
//
// Response shapes by command: OK, ERR, a result set (column count, column
// definitions, [EOF], rows, EOF/OK; repeated while SERVER_MORE_RESULTS_EXISTS),
// a COM_STMT_PREPARE OK (parameter and column definitions follow), the plain
// string of COM_STATISTICS; COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA and
// COM_QUIT have none and are recorded at once with status None.
//
// A gap drops the queue; the request side resumes at the next event starting
// with a sequence-0 packet of a known command, the response side at the next
// event starting with a sequence-1 packet.

import type { ConnectionInfo, ProtocolSession, ProtocolSpec, SessionEnv } from '../protocol.ts';
import { InferResult, StreamSide } from '../protocol.ts';
import type { FrameFormat, FrameListener } from '../length-prefixed-framer.ts';
import { LengthPrefixedFramer } from '../length-prefixed-framer.ts';
import { utf8 } from '../../bytes.ts';
import {
  Capability, Command, MAX_PACKET_PAYLOAD, MORE_RESULTS_EXISTS, PacketReader, readBinaryValue, readUint16, readUint32, renderError,
} from './mysql-messages.ts';
import type { MysqlRecord } from './mysql-record.ts';
import { MysqlRespStatus } from './mysql-record.ts';

/** Where the response to the head command is. */
const Phase = {
  First: 0, ColumnDefs: 1, ColumnsEof: 2, Rows: 3, PrepareDefs: 4,
} as const;
type Phase = (typeof Phase)[keyof typeof Phase];

class PendingCommand {
  readonly cmd: number;
  readonly reqBody: string;
  readonly startNs: number;
  phase: Phase = Phase.First;
  /** Column definitions (or prepare definition packets, EOFs included) still to come. */
  left = 0;
  rows = 0;
  resultSets = 0;
  respBody = '';

  constructor(cmd: number, reqBody: string, startNs: number) {
    this.cmd = cmd;
    this.reqBody = reqBody;
    this.startNs = startNs;
  }
}

interface Statement {
  readonly query: string;
  readonly params: number;
  /** Parameter types from the last execute that bound them (new-params-bound flag). */
  types: Uint16Array | null;
}

/** Prepared statements remembered per connection; past this the map is cleared (counted). */
const MAX_STATEMENTS = 256;
/** Commands known to the parser: a sequence-0 packet starting with another byte is not a resync point. */
const KNOWN_COMMANDS = new Uint8Array(256);
for (let c = 0x00; c <= 0x1f; c++) KNOWN_COMMANDS[c] = 1;

export class MysqlSession implements ProtocolSession {
  private readonly conn: ConnectionInfo;
  private readonly env: SessionEnv;
  private readonly maxText: number;
  private readonly requestFramer: LengthPrefixedFramer;
  private readonly responseFramer: LengthPrefixedFramer;
  private readonly pending: PendingCommand[] = [];
  private readonly statements = new Map<number, Statement>();
  private readonly reader = new PacketReader();
  private serverCapabilities = 0;
  /** Negotiated capabilities; -1 until the client's handshake response is seen. */
  private capabilities = -1;
  private lastPreparedId = -1;
  /** The previous packet of this side had the maximum length: this one continues it. */
  private readonly continuing: [boolean, boolean] = [false, false];
  private readonly resyncing: [boolean, boolean] = [false, false];
  private done = false;

  constructor(conn: ConnectionInfo, env: SessionEnv) {
    this.conn = conn;
    this.env = env;
    this.maxText = env.limits.maxBodyBytes;
    const maxKept = Math.max(env.limits.maxHeaderBytes, env.limits.maxBodyBytes);
    const format: FrameFormat = {
      headerBytes: () => 4,
      bodyLength: (bytes, at) => bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16),
    };
    const requestListener: FrameListener = {
      onFrame: (head, headAt, body, start, end, bodyLength, startNs) => this.onRequest(head[headAt + 3]!, body, start, end, bodyLength, startNs),
      onInvalidHeader: () => {},
    };
    const responseListener: FrameListener = {
      onFrame: (head, headAt, body, start, end, bodyLength, _startNs, endNs) => this.onResponse(head[headAt + 3]!, body, start, end, bodyLength, endNs),
      onInvalidHeader: () => {},
    };
    this.requestFramer = new LengthPrefixedFramer(format, requestListener, maxKept);
    this.responseFramer = new LengthPrefixedFramer(format, responseListener, maxKept);
  }

  get stopped(): boolean {
    return this.done;
  }

  retainedBytes(): number {
    let bytes = this.requestFramer.retainedBytes() + this.responseFramer.retainedBytes();
    for (const p of this.pending) bytes += 64 + p.reqBody.length + p.respBody.length;
    return bytes;
  }

  data(side: StreamSide, bytes: Uint8Array, start: number, end: number, timestampNs: number): void {
    if (this.done) return;
    if (this.resyncing[side]) {
      if (!this.resyncPoint(side, bytes, start, end)) {
        this.env.counters.inc('resync_skipped_bytes.mysql', end - start);
        return;
      }
      this.resyncing[side] = false;
    }
    (side === StreamSide.Request ? this.requestFramer : this.responseFramer).push(bytes, start, end, timestampNs);
  }

  gap(side: StreamSide, _lengthBytes: number, _timestampNs: number): void {
    if (this.done) return;
    this.env.counters.inc('gap.mysql');
    this.dropPending();
    this.requestFramer.reset();
    this.responseFramer.reset();
    this.continuing[0] = false;
    this.continuing[1] = false;
    this.resyncing[side] = true;
    // Responses to commands lost with the gap must not pair with later commands.
    this.resyncing[StreamSide.Response] = true;
  }

  close(_timestampNs: number): void {
    this.dropPending();
    this.statements.clear();
    this.done = true;
  }

  private dropPending(): void {
    if (this.pending.length > 0) this.env.counters.inc('unmatched_request.mysql', this.pending.length);
    this.pending.length = 0;
  }

  private resyncPoint(side: StreamSide, bytes: Uint8Array, start: number, end: number): boolean {
    if (end - start < 5) return false;
    const seq = bytes[start + 3]!;
    return side === StreamSide.Request ? seq === 0 && KNOWN_COMMANDS[bytes[start + 4]!] === 1 : seq === 1 && this.pending.length > 0;
  }

  // --- request side

  private onRequest(seq: number, body: Uint8Array, start: number, end: number, bodyLength: number, startNs: number): void {
    const continues = this.continuing[StreamSide.Request];
    this.continuing[StreamSide.Request] = bodyLength === MAX_PACKET_PAYLOAD;
    if (continues) return;
    if (seq !== 0) {
      if (seq === 1 && this.capabilities < 0 && end - start >= 4) this.onHandshakeResponse(body, start, end);
      return; // authentication exchange
    }
    if (end <= start) {
      this.env.counters.inc('parse_error.mysql.empty_command');
      return;
    }
    const cmd = body[start]!;
    const maxText = this.maxText;
    let reqBody = '';
    switch (cmd) {
      case Command.Query:
        reqBody = this.queryText(body, start + 1, end);
        break;
      case Command.InitDb: case Command.StmtPrepare:
        reqBody = utf8(body, start + 1, Math.min(end, start + 1 + maxText));
        break;
      case Command.StmtExecute:
        reqBody = this.renderExecute(body, start, end, bodyLength > end - start);
        break;
      case Command.StmtClose: case Command.StmtReset: case Command.StmtSendLongData: {
        const id = end - start >= 5 ? readUint32(body, start + 1) : -1;
        reqBody = this.statements.get(id)?.query ?? '';
        if (cmd === Command.StmtClose) this.statements.delete(id);
        break;
      }
      default:
    }
    if (cmd === Command.StmtClose || cmd === Command.StmtSendLongData || cmd === Command.Quit) {
      this.emit(new PendingCommand(cmd, reqBody, startNs), MysqlRespStatus.None, startNs);
      return;
    }
    if (this.pending.length >= this.env.limits.maxPendingMessages) {
      this.env.counters.inc('pending_overflow.mysql');
      this.dropPending();
      this.resyncing[StreamSide.Response] = true;
    }
    this.pending.push(new PendingCommand(cmd, reqBody, startNs));
  }

  private onHandshakeResponse(body: Uint8Array, start: number, end: number): void {
    const client = readUint32(body, start);
    if ((client & Capability.Protocol41) === 0) {
      this.capabilities = this.serverCapabilities & client & 0xffff;
      return;
    }
    this.capabilities = this.serverCapabilities === 0 ? client : this.serverCapabilities & client;
    // An SSL request is the 32-byte prefix of a handshake response; TLS follows.
    if ((client & Capability.Ssl) !== 0 && end - start === 32) {
      this.env.counters.inc('encrypted.mysql');
      this.close(0);
    }
  }

  /** COM_QUERY text (after the query attributes MySQL 8 may put first). */
  private queryText(body: Uint8Array, at: number, end: number): string {
    if (this.capabilities > 0 && (this.capabilities & Capability.QueryAttributes) !== 0) {
      const reader = this.reader.reset(body, at, end);
      const count = reader.lenenc();
      reader.lenenc(); // parameter set count, always 1
      if (count !== 0) return ''; // attribute values precede the text: not rendered
      at = reader.at;
    }
    return utf8(body, at, Math.min(end, at + this.maxText));
  }

  /** The statement's text with " PARAMETERS: [..]" (see MysqlRecord.reqBody). */
  private renderExecute(body: Uint8Array, start: number, end: number, cut: boolean): string {
    if (end - start < 10) return '';
    let id = readUint32(body, start + 1);
    if (id === 0xffffffff) id = this.lastPreparedId; // MariaDB: the statement prepared last
    const statement = this.statements.get(id);
    if (statement === undefined) {
      this.env.counters.inc('unknown_statement.mysql');
      return '';
    }
    const n = statement.params;
    if (n === 0) return statement.query;
    const reader = this.reader.reset(body, start + 10, end);
    const bitmapAt = reader.at;
    reader.at += (n + 7) >> 3;
    if (reader.left < 1) return `${statement.query} PARAMETERS: [${cut ? '…' : ''}]`;
    if (body[reader.at++] === 1) {
      if (reader.left < 2 * n) return `${statement.query} PARAMETERS: […]`;
      const types = statement.types?.length === n ? statement.types : new Uint16Array(n);
      for (let k = 0; k < n; k++) types[k] = readUint16(body, reader.at + 2 * k);
      statement.types = types;
      reader.at += 2 * n;
    }
    const types = statement.types;
    let params = '';
    for (let k = 0; k < n; k++) {
      if (params.length >= this.maxText) {
        params += ', …';
        break;
      }
      let value: string | null;
      if ((body[bitmapAt + (k >> 3)]! & (1 << (k & 7))) !== 0) value = 'NULL';
      else if (types === null) value = null;
      else value = readBinaryValue(reader, types[k]!, this.maxText);
      if (value === null) {
        params += k === 0 ? '…' : ', …';
        break;
      }
      params += (k === 0 ? '' : ', ') + value;
    }
    return `${statement.query} PARAMETERS: [${params}]`;
  }

  // --- response side

  private onResponse(seq: number, body: Uint8Array, start: number, end: number, bodyLength: number, endNs: number): void {
    const continues = this.continuing[StreamSide.Response];
    this.continuing[StreamSide.Response] = bodyLength === MAX_PACKET_PAYLOAD;
    if (continues) return;
    const head = this.pending[0];
    if (head === undefined) {
      if (seq === 0 && end - start >= 1 && body[start] === 10) this.onGreeting(body, start, end);
      return; // authentication exchange, or a response whose command was lost (counted at the gap)
    }
    const first = end > start ? body[start]! : -1;
    switch (head.phase) {
      case Phase.First:
        this.onFirstPacket(head, first, body, start, end, bodyLength, endNs);
        return;
      case Phase.ColumnDefs:
        if (first === 0xff) break;
        if (--head.left === 0) head.phase = this.deprecateEof() ? Phase.Rows : Phase.ColumnsEof;
        return;
      case Phase.ColumnsEof:
        if (first === 0xfe && bodyLength < 9) {
          head.phase = Phase.Rows;
          return;
        }
        if (first === 0xff) break;
        // No EOF after the columns: the server deprecated it after all.
        this.capabilities = Math.max(this.capabilities, 0) | Capability.DeprecateEof;
        head.phase = Phase.Rows;
        head.rows++;
        return;
      case Phase.Rows:
        if (first === 0xfe && bodyLength < (this.deprecateEof() ? MAX_PACKET_PAYLOAD : 9)) {
          head.resultSets++;
          if (this.moreResults(body, start, end)) {
            head.phase = Phase.First;
            return;
          }
          this.pending.shift();
          this.emit(head, MysqlRespStatus.Ok, endNs, `Resultset rows = ${head.rows}`);
          return;
        }
        if (first === 0xff) break;
        head.rows++;
        return;
      case Phase.PrepareDefs:
        if (--head.left <= 0) {
          this.pending.shift();
          this.emit(head, MysqlRespStatus.Ok, endNs);
        }
        return;
    }
    // ERR in the middle of a response ends it.
    this.pending.shift();
    this.emit(head, MysqlRespStatus.Err, endNs, renderError(body, start, end, this.protocol41(), this.maxText));
  }

  private onFirstPacket(head: PendingCommand, first: number, body: Uint8Array, start: number, end: number, bodyLength: number, endNs: number): void {
    if (first === 0xff) {
      this.pending.shift();
      this.emit(head, MysqlRespStatus.Err, endNs, renderError(body, start, end, this.protocol41(), this.maxText));
      return;
    }
    if (head.cmd === Command.Statistics) {
      this.pending.shift();
      this.emit(head, MysqlRespStatus.Ok, endNs, utf8(body, start, Math.min(end, start + this.maxText)));
      return;
    }
    if (head.cmd === Command.StmtPrepare && first === 0x00 && end - start >= 9) {
      const id = readUint32(body, start + 1);
      const columns = readUint16(body, start + 5);
      const params = readUint16(body, start + 7);
      if (this.statements.size >= MAX_STATEMENTS && !this.statements.has(id)) {
        this.env.counters.inc('statements_overflow.mysql');
        this.statements.clear();
      }
      this.statements.set(id, { query: head.reqBody, params, types: null });
      this.lastPreparedId = id;
      head.respBody = `Prepared statement id = ${id}, params = ${params}, columns = ${columns}`;
      const eofs = this.deprecateEof() ? 0 : (params > 0 ? 1 : 0) + (columns > 0 ? 1 : 0);
      head.left = params + columns + eofs;
      if (head.left > 0) {
        head.phase = Phase.PrepareDefs;
        return;
      }
      this.pending.shift();
      this.emit(head, MysqlRespStatus.Ok, endNs);
      return;
    }
    if (first === 0x00 || (first === 0xfe && bodyLength < 9) || (head.cmd === Command.FieldList && first === 0xfe)) {
      if (head.resultSets === 0) head.respBody = this.okInfo(body, start, end);
      if (first === 0x00 && this.moreResults(body, start, end)) return;
      this.pending.shift();
      this.emit(head, MysqlRespStatus.Ok, endNs, head.resultSets > 0 ? `Resultset rows = ${head.rows}` : undefined);
      return;
    }
    if (head.cmd === Command.FieldList) {
      head.phase = Phase.Rows; // column definitions up to EOF: counted as rows
      head.rows++;
      return;
    }
    const columns = this.reader.reset(body, start, end).lenenc();
    if (columns <= 0 || first === 0xfb) {
      this.pending.shift();
      this.env.counters.inc('parse_error.mysql.unexpected_response');
      this.emit(head, MysqlRespStatus.Unknown, endNs);
      return;
    }
    head.left = columns;
    head.phase = Phase.ColumnDefs;
  }

  private onGreeting(body: Uint8Array, start: number, end: number): void {
    // protocol version, NUL-terminated server version, thread id, 8 bytes of scramble, filler, capabilities (low 16).
    let at = start + 1;
    while (at < end && body[at] !== 0) at++;
    at += 1 + 4 + 8 + 1;
    if (end - at < 2) return;
    let caps = readUint16(body, at);
    if (end - at >= 7) caps |= readUint16(body, at + 5) << 16; // after charset and status flags
    this.serverCapabilities = caps >>> 0;
  }

  private deprecateEof(): boolean {
    return this.capabilities > 0 && (this.capabilities & Capability.DeprecateEof) !== 0;
  }

  private protocol41(): boolean {
    return this.capabilities < 0 || (this.capabilities & Capability.Protocol41) !== 0;
  }

  /** SERVER_MORE_RESULTS_EXISTS in an OK (0x00/0xFE, lenenc fields first) or a short EOF (0xFE, warnings first). */
  private moreResults(body: Uint8Array, start: number, end: number): boolean {
    let at: number;
    if (body[start] === 0xfe && end - start < 9) at = start + 3;
    else {
      const reader = this.reader.reset(body, start + 1, end);
      if (reader.lenenc() < 0 || reader.lenenc() < 0) return false;
      at = reader.at;
    }
    return end - at >= 2 && (readUint16(body, at) & MORE_RESULTS_EXISTS) !== 0;
  }

  /** The human-readable info of an OK packet ("Records: 3  Duplicates: 0  Warnings: 0"), or ''. */
  private okInfo(body: Uint8Array, start: number, end: number): string {
    if (body[start] !== 0x00) return '';
    const reader = this.reader.reset(body, start + 1, end);
    if (reader.lenenc() < 0 || reader.lenenc() < 0) return '';
    reader.at += 4; // status flags, warnings
    if (reader.left <= 0) return '';
    if (this.capabilities > 0 && (this.capabilities & Capability.SessionTrack) !== 0) return reader.lenencString(this.maxText) ?? '';
    return utf8(body, reader.at, Math.min(end, reader.at + this.maxText));
  }

  private emit(p: PendingCommand, status: MysqlRespStatus, endNs: number, respBody = p.respBody): void {
    const counters = this.env.counters;
    counters.inc('records.mysql');
    const onMysql = this.env.sinks.onMysql;
    if (onMysql === undefined) return;
    const record: MysqlRecord = {
      reqCmd: p.cmd,
      reqBody: p.reqBody,
      respStatus: status,
      respBody,
      reqStartNs: p.startNs,
      respEndNs: endNs,
      latencyNs: endNs - p.startNs,
    };
    try {
      onMysql.call(this.env.sinks, record, this.conn);
    } catch {
      counters.inc('sink_error.mysql');
    }
  }
}

function printable(byte: number): boolean {
  return (byte >= 0x20 && byte < 0x7f) || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

/**
 * Inference: the server greeting (sequence 0, protocol version 10, a version
 * string starting with a digit) starts responses; a COM_QUERY packet
 * (sequence 0, command 3, printable text) starts requests. Twin: the MySQL
 * cases of infer_protocol() in native/bpf/socket_trace.bpf.c, kept in agreement
 * by test/bpf/sql-inference-twins.test.ts.
 */
export function inferMysql(bytes: Uint8Array, start: number, end: number): InferResult {
  const n = end - start;
  if (n >= 4 && bytes[start + 3] !== 0) return InferResult.NoMatch;
  if (n < 5) return InferResult.NeedMore;
  const length = bytes[start]! | (bytes[start + 1]! << 8) | (bytes[start + 2]! << 16);
  const kind = bytes[start + 4];
  if (kind === 10 && length >= 20 && length <= 1024) {
    if (n < 6) return InferResult.NeedMore;
    const digit = bytes[start + 5]!;
    return digit >= 0x30 && digit <= 0x39 ? InferResult.Response : InferResult.NoMatch;
  }
  if (kind === Command.Query && length >= 4) {
    for (let k = 5; k < 8; k++) {
      if (k >= n) return InferResult.NeedMore;
      if (!printable(bytes[start + k]!)) return InferResult.NoMatch;
    }
    return InferResult.Request;
  }
  return InferResult.NoMatch;
}

export const mysqlProtocol: ProtocolSpec = Object.freeze({
  name: 'mysql',
  maxInferBytes: 8,
  infer: inferMysql,
  createSession: (conn: ConnectionInfo, env: SessionEnv): ProtocolSession => new MysqlSession(conn, env),
});
