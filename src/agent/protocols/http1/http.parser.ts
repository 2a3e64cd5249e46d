// Incremental HTTP/1.x message parser for one direction of one connection
// (RFC 9112). Bytes may be split anywhere, down to one byte per push; the
// parser keeps only a partial head / chunk-size line (bounded by
// maxHeaderBytes) and the first maxBodyBytes of the current body. Malformed
// input is counted (`parse_error.http1.<reason>`) and followed by a resync
// that scans for the next plausible message start; nothing here throws.

import type { Counters } from '../../conn/counters.ts';
import { latin1, utf8 } from '../../bytes.ts';
import { HttpContentType } from './http-exchange.ts';

export const HttpMessageKind = { Request: 0, Response: 1 } as const;
export type HttpMessageKind = (typeof HttpMessageKind)[keyof typeof HttpMessageKind];

/** One parsed request or response. Fields of the other kind stay at their zero value. */
export class HttpMessage {
  kind: HttpMessageKind = HttpMessageKind.Request;
  /** Timestamp of the push that carried the first byte. */
  startNs = 0;
  /** Timestamp of the push (or gap) that carried the last byte seen so far. */
  endNs = 0;
  method = '';
  target = '';
  status = 0;
  reason = '';
  major = 1;
  minor = 1;
  headersJson = '{}';
  contentType: HttpContentType = HttpContentType.Unknown;
  body = '';
  bodySize = 0;
  complete = false;
  /** Responses: method of the request this answers, set by the listener in onHead ('' if unknown). */
  requestMethod = '';
  /** Bytes this message keeps alive (head text + captured body), for pending-queue bounds. */
  retainedBytes = 0;
}

/** Receives parser output. Called synchronously from push/gap/end. */
export interface HttpParserListener {
  /** The head is parsed; framing is decided right after (responses read `requestMethod`). */
  onHead(msg: HttpMessage): void;
  /** The message is complete (for responses this includes interim 1xx). */
  onMessage(msg: HttpMessage): void;
  /** A message whose head was reported will never complete. */
  onAbort(msg: HttpMessage): void;
  /** The parser lost message boundaries (error or gap) and is resyncing. */
  onResync(kind: HttpMessageKind): void;
}

export interface HttpParserOptions {
  readonly maxBodyBytes: number;
  readonly maxHeaderBytes: number;
  readonly maxHeaders: number;
  /** Bound of one chunk-size line including extensions. */
  readonly maxChunkLineBytes: number;
}

export const DEFAULTS: Readonly<HttpParserOptions> = Object.freeze({
  maxBodyBytes: 512,
  maxHeaderBytes: 16 * 1024,
  maxHeaders: 128,
  maxChunkLineBytes: 1024,
});

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;

const State = {
  Idle: 0, // between messages
  Head: 1,
  Body: 2, // Content-Length body, `remaining` bytes left
  ChunkSize: 3,
  ChunkData: 4,
  ChunkEnd: 5, // CRLF after chunk data
  Trailer: 6,
  UntilClose: 7, // response body delimited by connection close
  Resync: 8,
  Stopped: 9, // after an upgrade or CONNECT tunnel: bytes are not HTTP/1
} as const;
type State = (typeof State)[keyof typeof State];

/** Methods accepted as a message start by protocol inference and resync (any token parses once in sync). */
const KNOWN_METHODS: readonly Uint8Array[] = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'].map(
  (m) => new TextEncoder().encode(`${m} `),
);
const HTTP1_PREFIX = new TextEncoder().encode('HTTP/1.');

/**
 * Byte classes for the head scan: 0 plain, LF, CR, and bytes that need JSON
 * escaping when they appear in a name or value (", \\, controls). Finding the
 * end of the head and deciding whether escaping is needed is one pass.
 */
const K_LF = 1;
const K_CR = 2;
const K_ESCAPE = 3;
const HEAD_CLASS = new Uint8Array(256);
for (let c = 0; c < 32; c++) HEAD_CLASS[c] = K_ESCAPE;
HEAD_CLASS[LF] = K_LF;
HEAD_CLASS[CR] = K_CR;
HEAD_CLASS[34] = K_ESCAPE;
HEAD_CLASS[92] = K_ESCAPE;

/** RFC 9110 tchar. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;

const HEX = new Int8Array(256).fill(-1);
for (let d = 0; d < 16; d++) {
  HEX['0123456789abcdef'.charCodeAt(d)] = d;
  HEX['0123456789ABCDEF'.charCodeAt(d)] = d;
}

/**
 * Whether `bytes[start, end)` can be the beginning of a message of `kind`:
 * 1 yes (enough bytes to be sure), 0 consistent so far, -1 no. Strict (known
 * methods, "HTTP/1."): used for inference and resync, where false starts cost.
 */
export function looksLikeMessageStart(kind: HttpMessageKind, bytes: Uint8Array, start: number, end: number): -1 | 0 | 1 {
  const avail = end - start;
  if (avail <= 0) return 0;
  if (kind === HttpMessageKind.Response) return prefixMatch(HTTP1_PREFIX, bytes, start, avail);
  let best: -1 | 0 | 1 = -1;
  for (const method of KNOWN_METHODS) {
    const r = prefixMatch(method, bytes, start, avail);
    if (r === 1) return 1;
    if (r === 0) best = 0;
  }
  return best;
}

function prefixMatch(expected: Uint8Array, bytes: Uint8Array, start: number, avail: number): -1 | 0 | 1 {
  const n = avail < expected.length ? avail : expected.length;
  for (let k = 0; k < n; k++) if (bytes[start + k] !== expected[k]) return -1;
  return n === expected.length ? 1 : 0;
}

/**
 * Early check of a start line before the whole head is in: -1 impossible,
 * 0 undecided, 1 plausible. Lenient (any token method) since the stream is
 * already known to be HTTP; it only spares buffering 16 KiB of garbage.
 */
function startLineCheck(kind: HttpMessageKind, bytes: Uint8Array, start: number, end: number): -1 | 0 | 1 {
  if (kind === HttpMessageKind.Response) {
    const avail = end - start;
    const r = prefixMatch(HTTP1_PREFIX, bytes, start, avail);
    return r;
  }
  const limit = Math.min(end, start + 24);
  for (let k = start; k < limit; k++) {
    const b = bytes[k]!;
    if (b === SP) return k === start ? -1 : 1;
    if (TCHAR[b] === 0) return -1;
  }
  return limit - start >= 24 ? -1 : 0;
}

/** Content-Length value, allowing an equal-valued list ("5, 5"); -1 when invalid. Slow path only (allocates). */
function parseContentLength(value: string): number {
  return parseContentLengthBytes(Buffer.from(value, 'latin1'), 0, value.length);
}

function trimOws(text: string, start: number, end: number): string {
  let s = start;
  let e = end;
  while (s < e && (text.charCodeAt(s) === SP || text.charCodeAt(s) === HT)) s++;
  while (e > s && (text.charCodeAt(e - 1) === SP || text.charCodeAt(e - 1) === HT)) e--;
  return text.slice(s, e);
}

/** `text[start, start + lower.length)` equals `lower` (lowercase ASCII) ignoring ASCII case. */
function equalsIgnoreCase(text: string, start: number, lower: string): boolean {
  for (let k = 0; k < lower.length; k++) {
    const c = text.charCodeAt(start + k);
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== lower.charCodeAt(k)) return false;
  }
  return true;
}

function sameNameIgnoreCase(a: string, b: string): boolean {
  return a.length === b.length && (a === b || a.toLowerCase() === b.toLowerCase());
}

/** Field-value byte classes for the byte-level parser. */
const V_PLAIN = 0;
const V_SPACE = 1;
const V_END = 2; // CR, LF
const V_ESCAPE = 4; // '"' and '\\': written as a JSON escape
const V_OTHER = 3; // controls, '"', '\\': escaping or an error
const VALUE_CLASS = new Uint8Array(256);
for (let c = 0; c < 32; c++) VALUE_CLASS[c] = V_OTHER;
VALUE_CLASS[SP] = V_SPACE;
VALUE_CLASS[CR] = V_END;
VALUE_CLASS[LF] = V_END;
// '"' and '\\' are escaped in place (ETag values carry quotes).
VALUE_CLASS[34] = V_ESCAPE;
VALUE_CLASS[92] = V_ESCAPE;

const HEAD_INCOMPLETE = -1;
const HEAD_ERROR = -2;
const HEAD_SLOW = -3;

/**
 * Scratch for the byte-level head parser, shared by all parsers: parsing is
 * synchronous and the listener runs only after the head is decoded.
 */
let scratch = new Uint8Array(4096);
function scratchFor(bytes: number): Uint8Array {
  if (scratch.length < bytes) scratch = new Uint8Array(Math.max(bytes, scratch.length * 2));
  return scratch;
}

/** Per-head scratch shared by all parsers (same reason): name offsets/lengths in `scratch`, slow-path names/values. */
const NAME_AT: number[] = [];
const NAME_LEN: number[] = [];
const SLOW_NAMES: string[] = [];
const SLOW_VALUES: string[] = [];

const METHOD_NAMES = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE'];

/** Method token as a string; known methods return the shared constant (no decode). */
function methodName(bytes: Uint8Array, start: number, end: number): string {
  const len = end - start;
  for (const name of METHOD_NAMES) {
    if (name.length !== len) continue;
    let k = 0;
    while (k < len && bytes[start + k] === name.charCodeAt(k)) k++;
    if (k === len) return name;
  }
  return latin1(bytes, start, end);
}

/** `bytes[start, start + lower.length)` equals `lower` (lowercase ASCII) ignoring ASCII case. */
function equalsLowerBytes(bytes: Uint8Array, start: number, lower: string): boolean {
  for (let k = 0; k < lower.length; k++) {
    const c = bytes[start + k]!;
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== lower.charCodeAt(k)) return false;
  }
  return true;
}

function equalBytesIgnoreCase(bytes: Uint8Array, a: number, b: number, len: number): boolean {
  for (let k = 0; k < len; k++) {
    const x = bytes[a + k]!;
    const y = bytes[b + k]!;
    if (x !== y && (x >= 65 && x <= 90 ? x + 32 : x) !== (y >= 65 && y <= 90 ? y + 32 : y)) return false;
  }
  return true;
}

/** Content-Length from bytes, allowing an equal-valued list ("5, 5"); -1 when invalid. */
/** Content-Length value of bytes[start, end), allowing an equal-valued list ("5, 5"); -1 when invalid. */
function parseContentLengthBytes(bytes: Uint8Array, start: number, end: number): number {
  let result = -1;
  let current = -1;
  for (let k = start; k < end; k++) {
    const c = bytes[k]!;
    if (c >= 48 && c <= 57) {
      current = (current < 0 ? 0 : current * 10) + (c - 48);
      if (current > Number.MAX_SAFE_INTEGER) return -1;
    } else if (c === 44) {
      if (current < 0 || (result >= 0 && result !== current)) return -1;
      result = current;
      current = -1;
    } else if (c !== SP && c !== HT) {
      return -1;
    }
  }
  if (current < 0 || (result >= 0 && result !== current)) return -1;
  return current;
}

/** gRPC when the media type starts with application/grpc; JSON when it mentions json. */
function contentTypeOf(bytes: Uint8Array, start: number, end: number): HttpContentType {
  if (end - start >= 16 && equalsLowerBytes(bytes, start, 'application/grpc')) return HttpContentType.Grpc;
  for (let k = start; k + 4 <= end; k++) {
    if ((bytes[k]! | 0x20) === 106 && equalsLowerBytes(bytes, k, 'json')) return HttpContentType.Json;
  }
  return HttpContentType.Unknown;
}

export class HttpParser {
  readonly kind: HttpMessageKind;
  private readonly options: HttpParserOptions;
  private readonly listener: HttpParserListener;
  private readonly counters: Counters;

  private state: State = State.Idle;
  private msg: HttpMessage | null = null;
  /** Partial head / chunk-size line carried across pushes; grown on demand, never above the bounds. */
  private buf: Uint8Array | null = null;
  private bufLen = 0;
  /** Bytes left in the Content-Length body or the current chunk. */
  private remaining = 0;
  private sawCR = false;
  private trailerLineLen = 0;
  private trailerLineFirstCR = false;
  private trailerBytes = 0;
  /** Body capture: either decoded straight from one push (`captureDirect`) or copied here. */
  private capture: Uint8Array | null = null;
  private captureLen = 0;
  private captureDirect = false;
  private captureClosed = false;
  /** Framing decided at the head: the message ends the HTTP/1 stream (101, CONNECT 2xx). */
  private stopAfter = false;
  /** The current message's head went to the listener (so an abort must too). */
  private headReported = false;
  /** Some byte of the head scanned so far needs JSON escaping (or is a bare CR). */
  private headEscape = false;
  /** Framing inputs parseHeadFast leaves for acceptHead. */
  private contentLength = -1;
  private chunked = false;
  private otherCoding = false;
  private headError = '';

  constructor(kind: HttpMessageKind, options: HttpParserOptions, listener: HttpParserListener, counters: Counters) {
    this.kind = kind;
    this.options = options;
    this.listener = listener;
    this.counters = counters;
  }

  get stopped(): boolean {
    return this.state === State.Stopped;
  }

  /** True between messages (nothing buffered, no message in progress). */
  get idle(): boolean {
    return this.state === State.Idle;
  }

  /** Stop parsing for good (the other side upgraded the connection). */
  stop(): void {
    this.abortCurrent();
    this.state = State.Stopped;
    this.bufLen = 0;
  }

  /** Parse `bytes[start, end)`, the next bytes of this direction. */
  push(bytes: Uint8Array, start: number, end: number, nowNs: number): void {
    let i = start;
    while (i < end) {
      const state = this.state;
      if (state >= State.Head && state <= State.UntilClose) this.msg!.endNs = nowNs;
      switch (state) {
        case State.Idle: {
          const b = bytes[i];
          // RFC 9112 §2.2: ignore empty lines before a message.
          if (b === CR || b === LF) {
            i++;
            break;
          }
          this.beginMessage(nowNs);
          break;
        }
        case State.Head:
          i = this.pushHead(bytes, i, end, nowNs);
          break;
        case State.Body:
        case State.ChunkData: {
          const avail = end - i;
          const take = avail < this.remaining ? avail : this.remaining;
          this.captureBody(bytes, i, i + take);
          this.remaining -= take;
          i += take;
          if (this.remaining === 0) {
            if (state === State.Body) this.complete();
            else {
              this.state = State.ChunkEnd;
              this.sawCR = false;
            }
          }
          break;
        }
        case State.ChunkSize:
          i = this.pushChunkSize(bytes, i, end);
          break;
        case State.ChunkEnd: {
          const b = bytes[i];
          if (b === CR && !this.sawCR) {
            this.sawCR = true;
            i++;
          } else if (b === LF) {
            this.state = State.ChunkSize;
            i++;
          } else {
            i = this.fail('bad_chunk_terminator', i);
          }
          break;
        }
        case State.Trailer:
          i = this.pushTrailer(bytes, i, end);
          break;
        case State.UntilClose:
          this.captureBody(bytes, i, end);
          i = end;
          break;
        case State.Resync:
          i = this.pushResync(bytes, i, end, i === start);
          break;
        case State.Stopped:
          return;
      }
    }
  }

  /** `lengthBytes` bytes of this direction were not captured. */
  gap(lengthBytes: number, nowNs: number): void {
    if (lengthBytes <= 0) return;
    const state = this.state;
    if (state === State.Stopped || state === State.Resync) return;
    const msg = this.msg;
    if (msg !== null && (state === State.Body || state === State.ChunkData || state === State.UntilClose)) {
      this.captureClosed = true; // the kept text must stay a prefix of the body
      msg.endNs = nowNs;
      if (state === State.UntilClose) {
        msg.bodySize += lengthBytes;
        return;
      }
      const skip = lengthBytes < this.remaining ? lengthBytes : this.remaining;
      msg.bodySize += skip;
      this.remaining -= skip;
      if (skip === lengthBytes) {
        if (this.remaining === 0) {
          if (state === State.Body) this.complete();
          else {
            this.state = State.ChunkEnd;
            this.sawCR = false;
          }
        }
        return;
      }
      // The gap runs past this body: the message is whole, what follows is unknown.
      if (state === State.Body) this.complete();
    }
    this.counters.inc('gap_resync.http1');
    this.enterResync();
  }

  /** The stream ended (connection closed or forgotten). */
  /** Bytes this parser holds: a partial head and the captured body prefix. */
  retainedBytes(): number {
    return (this.buf?.length ?? 0) + (this.capture?.length ?? 0);
  }

  end(): void {
    if (this.state === State.UntilClose) {
      this.complete();
      return;
    }
    if (this.msg !== null) this.counters.inc('truncated_message.http1');
    this.abortCurrent();
    this.bufLen = 0;
    if (this.state !== State.Stopped) this.state = State.Idle;
  }

  private beginMessage(nowNs: number): void {
    const msg = new HttpMessage();
    msg.kind = this.kind;
    msg.startNs = nowNs;
    msg.endNs = nowNs;
    this.msg = msg;
    this.state = State.Head;
    this.bufLen = 0;
    this.captureLen = 0;
    this.captureDirect = false;
    this.captureClosed = false;
    this.stopAfter = false;
    this.headReported = false;
    this.headEscape = false;
  }

  /**
   * Index just past the empty line that ends a head in `bytes[from, end)`, or
   * -1. Accepts bare LF line ends. Sets headEscape for bytes that need JSON
   * escaping (a CR not followed by LF counts: it would sit inside a value).
   */
  private scanHead(bytes: Uint8Array, from: number, end: number): number {
    let escape = false;
    for (let i = from; i < end; i++) {
      const k = HEAD_CLASS[bytes[i]!]!;
      if (k === 0) continue;
      if (k === K_LF) {
        const n = i + 1;
        if (n < end) {
          const b = bytes[n];
          if (b === LF) {
            this.headEscape ||= escape;
            return n + 1;
          }
          if (b === CR && n + 1 < end && bytes[n + 1] === LF) {
            this.headEscape ||= escape;
            return n + 2;
          }
        }
      } else if (k === K_CR) {
        if (i + 1 < end && bytes[i + 1] !== LF) escape = true;
      } else {
        escape = true;
      }
    }
    this.headEscape ||= escape;
    return -1;
  }

  private pushHead(bytes: Uint8Array, i: number, end: number, nowNs: number): number {
    const max = this.options.maxHeaderBytes;
    if (this.bufLen === 0) {
      if (startLineCheck(this.kind, bytes, i, end) < 0) return this.fail('bad_start_line', i + 1);
      const limit = end - i > max ? i + max : end;
      const headEnd = this.parseHead(bytes, i, limit, nowNs);
      if (headEnd >= 0) return headEnd;
      if (headEnd === HEAD_ERROR) return this.fail(this.headError, i + 1);
      if (limit < end) return this.fail('header_too_large', i + 1);
      this.append(bytes, i, end);
      return end;
    }
    // Slow path (head split across pushes): find the end incrementally, parse once.
    const old = this.bufLen;
    const room = max - old;
    const take = end - i < room ? end - i : room;
    this.append(bytes, i, i + take);
    const buf = this.buf!;
    if (old < 24 && startLineCheck(this.kind, buf, 0, this.bufLen) < 0) {
      this.bufLen = 0;
      return this.fail('bad_start_line', i);
    }
    const headEnd = this.scanHead(buf, old > 3 ? old - 3 : 0, this.bufLen);
    if (headEnd >= 0) {
      const consumed = headEnd - old;
      this.bufLen = 0;
      const parsed = this.parseHead(buf, 0, headEnd, nowNs);
      return parsed >= 0 ? i + consumed : this.fail(parsed === HEAD_ERROR ? this.headError : 'bad_header', i + consumed);
    }
    if (this.bufLen >= max) {
      this.bufLen = 0;
      return this.fail('header_too_large', i + take);
    }
    return i + take;
  }

  /**
   * Parse the head starting at `start` within `bytes[start, limit)` and choose
   * the body framing. Returns the index just past the head, HEAD_INCOMPLETE,
   * or HEAD_ERROR (reason in headError). The byte-level parser handles the
   * common shape; obs-folds, repeated names and bytes that need JSON escaping
   * take the string-level parser.
   */
  private parseHead(bytes: Uint8Array, start: number, limit: number, nowNs: number): number {
    const r = this.parseHeadFast(bytes, start, limit);
    if (r !== HEAD_SLOW) {
      if (r >= 0) {
        const err = this.acceptHead(nowNs);
        if (err !== '') {
          this.headError = err;
          return HEAD_ERROR;
        }
      }
      return r;
    }
    const headEnd = this.scanHead(bytes, start, limit);
    if (headEnd < 0) return HEAD_INCOMPLETE;
    const err = this.finishHead(bytes, start, headEnd, nowNs);
    if (err !== '') {
      this.headError = err;
      return HEAD_ERROR;
    }
    return headEnd;
  }

  /**
   * Byte-level head parser: one pass that validates the start line and header
   * lines and writes `target|reason` then the headers JSON into the shared
   * scratch buffer, decoded with one latin1 call. Sets the msg fields and the
   * framing inputs; returns the head end, HEAD_INCOMPLETE, HEAD_ERROR or HEAD_SLOW.
   */
  private parseHeadFast(bytes: Uint8Array, start: number, limit: number): number {
    const msg = this.msg!;
    const out = scratchFor(3 * (limit - start) + 16); // JSON adds at most 4 bytes per 3-byte header line
    let i = start;
    let o = 0;
    let c = 0;
    if (this.kind === HttpMessageKind.Request) {
      while (i < limit && TCHAR[bytes[i]!] === 1) i++;
      if (i >= limit) return HEAD_INCOMPLETE;
      if (bytes[i] !== SP || i === start) return this.headFail('bad_request_line');
      msg.method = methodName(bytes, start, i);
      i++;
      const t0 = i;
      while (i < limit && (c = bytes[i]!) > SP && c !== 127) out[o++] = bytes[i++]!;
      if (i >= limit) return HEAD_INCOMPLETE;
      if (c !== SP || i === t0) return this.headFail('bad_request_line');
      i++;
      if (limit - i < 9) return HEAD_INCOMPLETE;
      if (prefixMatch(HTTP1_PREFIX, bytes, i, 7) !== 1 || !isDigit(bytes[i + 7]!)) return this.headFail('bad_request_line');
      msg.major = 1;
      msg.minor = bytes[i + 7]! - 48;
      i += 8;
    } else {
      if (limit - i < 13) return HEAD_INCOMPLETE;
      const minor = bytes[i + 7]!;
      const d0 = bytes[i + 9]!;
      const d1 = bytes[i + 10]!;
      const d2 = bytes[i + 11]!;
      if (
        prefixMatch(HTTP1_PREFIX, bytes, i, 7) !== 1 ||
        !isDigit(minor) ||
        bytes[i + 8] !== SP ||
        !isDigit(d0) ||
        !isDigit(d1) ||
        !isDigit(d2) ||
        d0 === 48
      ) {
        return this.headFail('bad_status_line');
      }
      msg.major = 1;
      msg.minor = minor - 48;
      msg.status = (d0 - 48) * 100 + (d1 - 48) * 10 + (d2 - 48);
      i += 12;
      c = bytes[i]!;
      if (c === SP) {
        i++;
        while (i < limit && (c = bytes[i]!) !== CR && c !== LF) out[o++] = bytes[i++]!;
        if (i >= limit) return HEAD_INCOMPLETE;
      } else if (c !== CR && c !== LF) {
        return this.headFail('bad_status_line');
      }
    }
    const lineLen = o;
    // End of the start line.
    c = bytes[i]!;
    if (c === CR) {
      if (i + 1 >= limit) return HEAD_INCOMPLETE;
      if (bytes[i + 1] !== LF) return this.headFail(this.kind === HttpMessageKind.Request ? 'bad_request_line' : 'bad_status_line');
      i += 2;
    } else if (c === LF) {
      i++;
    } else {
      return this.headFail(this.kind === HttpMessageKind.Request ? 'bad_request_line' : 'bad_status_line');
    }

    const nameAt = NAME_AT;
    const nameLen = NAME_LEN;
    const maxHeaders = this.options.maxHeaders;
    let count = 0;
    let contentLength = -1;
    let chunked = false;
    let otherCoding = false;
    const jsonStart = o;
    out[o++] = 123; // {
    for (;;) {
      if (i >= limit) return HEAD_INCOMPLETE;
      c = bytes[i]!;
      if (c === CR) {
        if (i + 1 >= limit) return HEAD_INCOMPLETE;
        if (bytes[i + 1] !== LF) return this.headFail('bad_header');
        i += 2;
        break;
      }
      if (c === LF) {
        i++;
        break;
      }
      if (c === SP || c === HT) return HEAD_SLOW; // obs-fold
      if (count >= maxHeaders) return this.headFail('too_many_headers');
      if (count > 0) out[o++] = 44; // ,
      out[o++] = 34; // "
      const n0 = i;
      const on0 = o;
      while (TCHAR[c] === 1) {
        out[o++] = c;
        if (++i >= limit) return HEAD_INCOMPLETE;
        c = bytes[i]!;
      }
      if (c !== 58 || i === n0) return this.headFail('bad_header');
      const len = i - n0;
      for (let k = 0; k < count; k++) {
        if (nameLen[k] === len && equalBytesIgnoreCase(out, nameAt[k]!, on0, len)) return HEAD_SLOW;
      }
      nameAt[count] = on0;
      nameLen[count] = len;
      count++;
      out[o++] = 34; // "
      out[o++] = 58; // :
      out[o++] = 34; // "
      i++;
      while (i < limit && ((c = bytes[i]!) === SP || c === HT)) i++;
      if (i >= limit) return HEAD_INCOMPLETE;
      const ov0 = o;
      let valueEnd = o;
      for (;;) {
        c = bytes[i]!;
        const k = VALUE_CLASS[c]!;
        if (k === V_PLAIN) {
          out[o++] = c;
          valueEnd = o;
        } else if (k === V_SPACE) {
          out[o++] = c;
        } else if (k === V_END) {
          break;
        } else if (k === V_ESCAPE) {
          out[o++] = 92; // backslash
          out[o++] = c;
          valueEnd = o;
        } else if (c === HT) {
          // Tabs are legal in values but need escaping; trailing ones are trimmed.
          let t = i + 1;
          while (t < limit && (bytes[t] === HT || bytes[t] === SP)) t++;
          if (t >= limit) return HEAD_INCOMPLETE;
          if (bytes[t] !== CR && bytes[t] !== LF) return HEAD_SLOW;
          i = t;
          continue;
        } else {
          return c < 32 ? this.headFail('bad_header') : HEAD_SLOW;
        }
        if (++i >= limit) return HEAD_INCOMPLETE;
      }
      o = valueEnd;
      if (c === CR) {
        if (i + 1 >= limit) return HEAD_INCOMPLETE;
        if (bytes[i + 1] !== LF) return this.headFail('bad_header');
        i += 2;
      } else {
        i++;
      }
      out[o++] = 34; // "
      if (len === 14 && equalsLowerBytes(out, on0, 'content-length')) {
        contentLength = parseContentLengthBytes(out, ov0, valueEnd);
        if (contentLength < 0) return this.headFail('bad_content_length');
      } else if (len === 17 && equalsLowerBytes(out, on0, 'transfer-encoding')) {
        let t = valueEnd;
        while (t > ov0 && out[t - 1] !== 44) t--;
        while (t < valueEnd && (out[t] === SP || out[t] === HT)) t++;
        chunked = valueEnd - t === 7 && equalsLowerBytes(out, t, 'chunked');
        otherCoding = !chunked && valueEnd > t;
      } else if (len === 12 && equalsLowerBytes(out, on0, 'content-type')) {
        msg.contentType = contentTypeOf(out, ov0, valueEnd);
      }
    }
    out[o++] = 125; // }
    const text = latin1(out, 0, o);
    if (this.kind === HttpMessageKind.Request) msg.target = text.slice(0, lineLen);
    else msg.reason = text.slice(0, lineLen);
    msg.headersJson = text.slice(jsonStart);
    msg.retainedBytes = o;
    this.contentLength = contentLength;
    this.chunked = chunked;
    this.otherCoding = otherCoding;
    return i;
  }

  private headFail(reason: string): number {
    this.headError = reason;
    return HEAD_ERROR;
  }

  /** The head is in msg: report it and choose the framing from the fields parseHeadFast left. */
  private acceptHead(nowNs: number): string {
    const msg = this.msg!;
    msg.endNs = nowNs;
    this.headReported = true;
    this.listener.onHead(msg);
    return this.chooseFraming(msg, this.contentLength, this.chunked, this.otherCoding);
  }

  /** Parse a complete head `bytes[start, end)` and choose the body framing. Returns '' or an error reason. */
  private finishHead(bytes: Uint8Array, start: number, end: number, nowNs: number): string {
    const msg = this.msg!;
    const text = latin1(bytes, start, end);
    let nl = text.indexOf('\n');
    let le = nl > 0 && text.charCodeAt(nl - 1) === CR ? nl - 1 : nl;
    const lineErr = this.kind === HttpMessageKind.Request ? parseRequestLine(msg, text, le) : parseStatusLine(msg, text, le);
    if (lineErr !== '') return lineErr;

    const names = SLOW_NAMES;
    const values = SLOW_VALUES;
    const maxHeaders = this.options.maxHeaders;
    let count = 0;
    let contentLength = -1;
    let chunked = false;
    let otherCoding = false;
    let pos = nl + 1;
    for (;;) {
      nl = text.indexOf('\n', pos);
      if (nl < 0) break;
      le = nl > pos && text.charCodeAt(nl - 1) === CR ? nl - 1 : nl;
      if (le === pos) break;
      const c0 = text.charCodeAt(pos);
      if (c0 === SP || c0 === HT) {
        // RFC 9112 §5.2 obs-fold: the continuation joins the previous value with one space.
        if (count === 0) return 'bad_header';
        values[count - 1] = `${values[count - 1]!} ${trimOws(text, pos, le)}`;
        pos = nl + 1;
        continue;
      }
      const colon = text.indexOf(':', pos);
      if (colon <= pos || colon > le) return 'bad_header';
      const last = text.charCodeAt(colon - 1);
      if (last === SP || last === HT) return 'bad_header'; // RFC 9112 §5.1: no whitespace before the colon
      const name = text.slice(pos, colon);
      const value = trimOws(text, colon + 1, le);
      switch (name.length) {
        case 14:
          if (equalsIgnoreCase(name, 0, 'content-length')) {
            const n = parseContentLength(value);
            if (n < 0 || (contentLength >= 0 && contentLength !== n)) return 'bad_content_length';
            contentLength = n;
          }
          break;
        case 17:
          if (equalsIgnoreCase(name, 0, 'transfer-encoding')) {
            const lower = value.toLowerCase();
            const comma = lower.lastIndexOf(',');
            const lastCoding = comma < 0 ? lower : trimOws(lower, comma + 1, lower.length);
            chunked = lastCoding === 'chunked';
            otherCoding = !chunked && lastCoding !== '';
          }
          break;
        case 12:
          if (equalsIgnoreCase(name, 0, 'content-type')) {
            const lower = value.toLowerCase();
            if (lower.startsWith('application/grpc')) msg.contentType = HttpContentType.Grpc;
            else if (lower.includes('json')) msg.contentType = HttpContentType.Json;
          }
          break;
      }
      let dup = -1;
      for (let k = 0; k < count; k++) {
        if (sameNameIgnoreCase(names[k]!, name)) {
          dup = k;
          break;
        }
      }
      if (dup >= 0) values[dup] = `${values[dup]!}, ${value}`;
      else {
        if (count >= maxHeaders) return 'too_many_headers';
        names[count] = name;
        values[count] = value;
        count++;
      }
      pos = nl + 1;
    }

    const escape = this.headEscape;
    let json = '{';
    for (let k = 0; k < count; k++) {
      if (k > 0) json += ',';
      json += escape
        ? `${JSON.stringify(names[k])}:${JSON.stringify(values[k])}`
        : `"${names[k]!}":"${values[k]!}"`;
    }
    msg.headersJson = `${json}}`;
    msg.retainedBytes = end - start;
    msg.endNs = nowNs;

    this.headReported = true;
    this.listener.onHead(msg);
    return this.chooseFraming(msg, contentLength, chunked, otherCoding);
  }

  private chooseFraming(msg: HttpMessage, contentLength: number, chunked: boolean, otherCoding: boolean): string {
    if (this.kind === HttpMessageKind.Response) {
      const status = msg.status;
      const connect = msg.requestMethod === 'CONNECT' && status >= 200 && status < 300;
      if (status === 101 || connect) this.stopAfter = true;
      // RFC 9112 §6.3: no body for 1xx, 204, 304, HEAD, CONNECT 2xx.
      if (status < 200 || status === 204 || status === 304 || msg.requestMethod === 'HEAD' || connect) {
        this.complete();
        return '';
      }
      if (chunked) return this.startChunked();
      if (otherCoding) {
        this.state = State.UntilClose;
        return '';
      }
      if (contentLength >= 0) return this.startLength(contentLength);
      this.state = State.UntilClose;
      return '';
    }
    if (chunked) return this.startChunked();
    if (otherCoding) return 'bad_transfer_encoding'; // RFC 9112 §6.3 item 4
    return this.startLength(contentLength < 0 ? 0 : contentLength);
  }

  private startLength(length: number): string {
    if (length === 0) {
      this.complete();
      return '';
    }
    this.state = State.Body;
    this.remaining = length;
    return '';
  }

  private startChunked(): string {
    this.state = State.ChunkSize;
    this.bufLen = 0;
    return '';
  }

  private pushChunkSize(bytes: Uint8Array, i: number, end: number): number {
    const max = this.options.maxChunkLineBytes;
    let lf = bytes.indexOf(LF, i);
    if (lf >= end) lf = -1;
    if (this.bufLen === 0) {
      if (lf >= 0) {
        if (lf - i > max) return this.fail('chunk_line_too_long', lf + 1);
        const err = this.chunkLine(bytes, i, lf);
        return err === '' ? lf + 1 : this.fail(err, lf + 1);
      }
      if (end - i > max) return this.fail('chunk_line_too_long', end);
      this.append(bytes, i, end);
      return end;
    }
    const stop = lf >= 0 ? lf + 1 : end;
    if (this.bufLen + (stop - i) > max + 1) {
      this.bufLen = 0;
      return this.fail('chunk_line_too_long', stop);
    }
    this.append(bytes, i, stop);
    if (lf < 0) return end;
    const len = this.bufLen;
    this.bufLen = 0;
    const err = this.chunkLine(this.buf!, 0, len - 1);
    return err === '' ? stop : this.fail(err, stop);
  }

  /** `bytes[start, lf)` is a chunk-size line (RFC 9112 §7.1): hex size, optional extensions. */
  private chunkLine(bytes: Uint8Array, start: number, lf: number): string {
    let k = start;
    let size = 0;
    while (k < lf) {
      const d = HEX[bytes[k]!]!;
      if (d < 0) break;
      size = size * 16 + d;
      k++;
    }
    const digits = k - start;
    if (digits === 0 || digits > 13) return 'bad_chunk_size';
    if (k < lf) {
      const b = bytes[k];
      // BWS or ';' starts extensions, which we skip; a bare CR must be the line end.
      if (b !== SP && b !== HT && b !== 59 && !(b === CR && k === lf - 1)) return 'bad_chunk_size';
    }
    if (size === 0) {
      this.state = State.Trailer;
      this.trailerLineLen = 0;
      this.trailerLineFirstCR = false;
      this.trailerBytes = 0;
    } else {
      this.state = State.ChunkData;
      this.remaining = size;
    }
    return '';
  }

  /** Trailer fields are consumed but not reported; the block ends at an empty line. */
  private pushTrailer(bytes: Uint8Array, i: number, end: number): number {
    let lf = bytes.indexOf(LF, i);
    if (lf >= end) lf = -1;
    const stop = lf >= 0 ? lf : end;
    if (this.trailerLineLen === 0 && stop > i) this.trailerLineFirstCR = bytes[i] === CR;
    this.trailerLineLen += stop - i;
    this.trailerBytes += stop - i + (lf >= 0 ? 1 : 0);
    if (this.trailerBytes > this.options.maxHeaderBytes) return this.fail('header_too_large', lf >= 0 ? lf + 1 : end);
    if (lf < 0) return end;
    const empty = this.trailerLineLen === 0 || (this.trailerLineLen === 1 && this.trailerLineFirstCR);
    this.trailerLineLen = 0;
    this.trailerLineFirstCR = false;
    if (empty) this.complete();
    return lf + 1;
  }

  private pushResync(bytes: Uint8Array, i: number, end: number, atPushStart: boolean): number {
    let candidate = -1;
    if (atPushStart && looksLikeMessageStart(this.kind, bytes, i, end) >= 0) candidate = i;
    else {
      let lf = bytes.indexOf(LF, i);
      while (lf !== -1 && lf + 1 < end) {
        if (looksLikeMessageStart(this.kind, bytes, lf + 1, end) >= 0) {
          candidate = lf + 1;
          break;
        }
        lf = bytes.indexOf(LF, lf + 1);
      }
    }
    const stop = candidate < 0 ? end : candidate;
    if (stop > i) this.counters.inc('resync_skipped_bytes.http1', stop - i);
    if (candidate >= 0) this.state = State.Idle;
    return stop;
  }

  private captureBody(bytes: Uint8Array, start: number, end: number): void {
    const msg = this.msg!;
    const n = end - start;
    msg.bodySize += n;
    const max = this.options.maxBodyBytes;
    if (this.captureClosed || this.captureLen >= max || n === 0) return;
    const take = n < max - this.captureLen ? n : max - this.captureLen;
    if (this.captureLen === 0 && this.state === State.Body && take === n && this.remaining === n) {
      // Whole (remaining) body in this push: decode straight from the view.
      msg.body = utf8(bytes, start, start + take);
      this.captureDirect = true;
      this.captureLen = take;
      return;
    }
    if (this.captureLen === 0 && this.state === State.Body && take === max) {
      msg.body = utf8(bytes, start, start + take);
      this.captureDirect = true;
      this.captureLen = take;
      return;
    }
    let cap = this.capture;
    if (cap === null) {
      cap = new Uint8Array(max);
      this.capture = cap;
    }
    cap.set(bytes.subarray(start, start + take), this.captureLen);
    this.captureLen += take;
  }

  private complete(): void {
    const msg = this.msg!;
    if (!this.captureDirect && this.captureLen > 0) msg.body = utf8(this.capture!, 0, this.captureLen);
    msg.retainedBytes += msg.body.length;
    msg.complete = true;
    this.msg = null;
    this.state = this.stopAfter ? State.Stopped : State.Idle;
    this.bufLen = 0;
    if (this.buf !== null && this.buf.length > 4096) this.buf = null; // give back a buffer a huge head grew
    this.listener.onMessage(msg);
  }

  /** Count `reason`, drop the current message, and resync from `resumeAt`. */
  private fail(reason: string, resumeAt: number): number {
    this.counters.inc(`parse_error.http1.${reason}`);
    this.enterResync();
    return resumeAt;
  }

  private enterResync(): void {
    this.abortCurrent();
    this.bufLen = 0;
    this.state = State.Resync;
    this.listener.onResync(this.kind);
  }

  private abortCurrent(): void {
    const msg = this.msg;
    if (msg === null) return;
    this.msg = null;
    if (this.headReported) this.listener.onAbort(msg);
  }

  private append(bytes: Uint8Array, start: number, end: number): void {
    const n = end - start;
    const need = this.bufLen + n;
    let buf = this.buf;
    if (buf === null || buf.length < need) {
      let size = buf === null ? 256 : buf.length * 2;
      while (size < need) size *= 2;
      const grown = new Uint8Array(size);
      if (buf !== null && this.bufLen > 0) grown.set(buf.subarray(0, this.bufLen));
      buf = grown;
      this.buf = grown;
    }
    buf.set(bytes.subarray(start, end), this.bufLen);
    this.bufLen = need;
  }
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** `METHOD SP request-target SP HTTP/1.x` in `text[0, le)`. */
function parseRequestLine(msg: HttpMessage, text: string, le: number): string {
  const sp1 = text.indexOf(' ');
  if (sp1 <= 0 || sp1 >= le) return 'bad_request_line';
  const sp2 = text.indexOf(' ', sp1 + 1);
  if (sp2 < 0 || sp2 >= le || sp2 === sp1 + 1) return 'bad_request_line';
  if (le - sp2 - 1 !== 8 || !text.startsWith('HTTP/1.', sp2 + 1) || !isDigit(text.charCodeAt(le - 1))) {
    return 'bad_request_line';
  }
  msg.method = text.slice(0, sp1);
  msg.target = text.slice(sp1 + 1, sp2);
  msg.major = 1;
  msg.minor = text.charCodeAt(le - 1) - 48;
  return '';
}

/** `HTTP/1.x SP 3DIGIT [SP reason]` in `text[0, le)`. */
function parseStatusLine(msg: HttpMessage, text: string, le: number): string {
  if (le < 12 || !text.startsWith('HTTP/1.') || text.charCodeAt(8) !== SP) return 'bad_status_line';
  const minor = text.charCodeAt(7);
  const d0 = text.charCodeAt(9);
  const d1 = text.charCodeAt(10);
  const d2 = text.charCodeAt(11);
  if (!isDigit(minor) || !isDigit(d0) || !isDigit(d1) || !isDigit(d2) || d0 === 48) return 'bad_status_line';
  if (le > 12 && text.charCodeAt(12) !== SP) return 'bad_status_line';
  msg.major = 1;
  msg.minor = minor - 48;
  msg.status = (d0 - 48) * 100 + (d1 - 48) * 10 + (d2 - 48);
  msg.reason = le > 13 ? text.slice(13, le) : '';
  return '';
}
