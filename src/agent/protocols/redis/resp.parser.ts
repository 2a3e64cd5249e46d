// Incremental RESP2/RESP3 parser for one direction of one Redis connection.
// Bytes may be split anywhere; the parser keeps one partial line (bounded by
// maxLineBytes), the first maxBodyBytes of the current bulk string and the
// rendered text of the current message (bounded by maxBodyBytes plus one
// element). Bulk payloads past the cut are skipped by count, so a gap inside
// one costs nothing. Malformed input is counted
// (`parse_error.redis.<reason>`) and followed by a resync that scans for the
// next line starting with a plausible type byte; nothing here throws.
//
// Rendering (docs/adr/0013-redis-and-dns-capture.md): a top-level simple
// string, integer, double, big number, boolean or bulk string renders as its
// text; an error as "-" + message; nil (RESP2 $-1/*-1, RESP3 _) as <NULL>;
// aggregates (array, set, push, map as alternating keys and values) as a JSON
// array whose elements are strings, nested arrays or null.

import type { Counters } from '../../conn/counters.ts';
import { latin1, utf8 } from '../../bytes.ts';

export const RespSide = { Request: 0, Response: 1 } as const;
export type RespSide = (typeof RespSide)[keyof typeof RespSide];

/** Rendering of a nil reply at the top level. */
export const NIL_TEXT = '<NULL>';
/** Element that replaces what did not fit in the rendering budget. */
export const ELIDED = '…';

/** One complete top-level RESP value. The parser reuses nothing: the session may keep it. */
export interface RespMessage {
  /** Timestamp of the push that carried the first byte. */
  startNs: number;
  /** Timestamp of the push that carried the last byte. */
  endNs: number;
  /** Type byte of the top-level value ('*', '+', '>', …). */
  type: number;
  /** Rendered text (see the file comment). */
  text: string;
  /**
   * Top-level aggregates: the plain text of each element (nested aggregates as
   * JSON), at most the elements that fit the budget; empty for other values.
   */
  elements: string[];
  /** Elements were left out of `elements`/`text` (budget). */
  elided: boolean;
  /** Top-level aggregates: the value of the last element when it is an integer, else NaN. */
  lastInteger: number;
}

export interface RespParserListener {
  onMessage(msg: RespMessage, side: RespSide): void;
  /** The parser lost message boundaries (error or gap) and is resyncing. */
  onResync(side: RespSide): void;
}

export interface RespParserOptions {
  /** Characters kept per bulk string, and the rendering budget of one message. */
  readonly maxBodyBytes: number;
  /** Bound of one simple line (type byte + text); longer simple strings are cut. */
  readonly maxLineBytes: number;
  /** Nesting depth of aggregates. */
  readonly maxDepth: number;
}

export const DEFAULTS: Readonly<RespParserOptions> = Object.freeze({
  maxBodyBytes: 512,
  maxLineBytes: 16 * 1024,
  maxDepth: 16,
});

const CR = 13;
const LF = 10;
/** Bulk strings above this are refused as garbage (Redis' own proto-max-bulk-len default). */
const MAX_BULK_BYTES = 512 * 1024 * 1024;
/** Aggregate lengths above this are refused as garbage. */
const MAX_AGGREGATE_LENGTH = 1 << 30;
/** Longest integer line (sign + 19 digits of an int64). */
const MAX_DIGITS = 20;

const State = {
  Type: 0, // expecting a type byte
  Line: 1, // reading the rest of a line up to CRLF
  Bulk: 2, // `bulkRemaining` payload bytes left
  BulkCr: 3,
  BulkLf: 4,
  Resync: 5, // skipping to a line that starts with a plausible type byte
} as const;
type State = (typeof State)[keyof typeof State];

// Type bytes.
const T = {
  Simple: 0x2b, // +
  Error: 0x2d, // -
  Integer: 0x3a, // :
  Bulk: 0x24, // $
  Array: 0x2a, // *
  Null: 0x5f, // _
  Double: 0x2c, // ,
  Boolean: 0x23, // #
  BlobError: 0x21, // !
  Verbatim: 0x3d, // =
  BigNumber: 0x28, // (
  Map: 0x25, // %
  Set: 0x7e, // ~
  Attribute: 0x7c, // |
  Push: 0x3e, // >
} as const;

const TYPE_BYTES = new Uint8Array(256);
for (const b of Object.values(T)) TYPE_BYTES[b] = 1;

/** One open aggregate. */
interface Frame {
  type: number;
  remaining: number;
  /** Rendered JSON elements. */
  parts: string[];
  /** Top level only: plain text of each element. */
  plain: string[] | null;
  elided: boolean;
  lastInteger: number;
}

export class RespParser {
  private readonly side: RespSide;
  private readonly options: RespParserOptions;
  private readonly listener: RespParserListener;
  private readonly counters: Counters;
  private state: State = State.Type;
  private type = 0;
  private readonly line: Uint8Array;
  private lineLength = 0;
  private lineOverflow = false;
  private bulkRemaining = 0;
  private readonly bulk: Uint8Array;
  private bulkKept = 0;
  private bulkType = 0;
  /** The current bulk payload, decoded straight from the push that carried all of it. */
  private bulkText: string | null = null;
  private readonly stack: Frame[] = [];
  /** Rendered characters of the current message so far. */
  private rendered = 0;
  private startNs = 0;
  private inMessage = false;
  /** Resync: the previous byte was LF (a line may start here). */
  private afterLf = false;

  constructor(side: RespSide, options: RespParserOptions, listener: RespParserListener, counters: Counters) {
    this.side = side;
    this.options = options;
    this.listener = listener;
    this.counters = counters;
    this.line = new Uint8Array(Math.max(16, options.maxLineBytes));
    this.bulk = new Uint8Array(Math.max(1, options.maxBodyBytes));
  }

  /** Bytes held for the message in progress (line buffer, kept bulk, rendered parts). */
  retainedBytes(): number {
    return this.inMessage ? this.lineLength + this.bulkKept + this.rendered : 0;
  }

  push(bytes: Uint8Array, start: number, end: number, timestampNs: number): void {
    let i = start;
    while (i < end) {
      switch (this.state) {
        case State.Type: {
          const b = bytes[i]!;
          if (TYPE_BYTES[b] === 0) {
            this.fail('bad_type');
            break;
          }
          if (!this.inMessage) {
            this.inMessage = true;
            this.startNs = timestampNs;
            this.rendered = 0;
          }
          this.type = b;
          this.lineLength = 0;
          this.lineOverflow = false;
          i++;
          if (b === T.Bulk || b === T.Array || b === T.Integer) {
            // Fast path: a length or integer line whole in this push is read in place.
            const next = scanNumberLine(bytes, i, end);
            if (next > 0) {
              i = next;
              this.onNumber(b, scannedValue, timestampNs);
              break;
            }
          }
          this.state = State.Line;
          break;
        }
        case State.Line: {
          // Lines are short: a byte loop beats a subarray view per line.
          const line = this.line;
          const cap = line.length;
          let length = this.lineLength;
          let j = i;
          for (; j < end; j++) {
            const b = bytes[j]!;
            if (b === LF) break;
            if (length < cap) line[length++] = b;
            else this.lineOverflow = true;
          }
          this.lineLength = length;
          if (j === end) return;
          i = j + 1;
          this.endLine(timestampNs);
          break;
        }
        case State.Bulk: {
          const n = Math.min(end - i, this.bulkRemaining);
          const keep = Math.min(n, this.bulk.length - this.bulkKept);
          if (!this.wantsText()) {
            // Past the rendering budget: count the bytes, keep nothing.
          } else if (this.bulkKept === 0 && n === this.bulkRemaining) {
            // The whole payload is in this push (the common case): decode it in place.
            this.bulkText = utf8(bytes, i, i + keep);
          } else if (keep > 0) {
            this.bulk.set(bytes.subarray(i, i + keep), this.bulkKept);
            this.bulkKept += keep;
          }
          this.bulkRemaining -= n;
          i += n;
          if (this.bulkRemaining === 0) this.state = State.BulkCr;
          break;
        }
        case State.BulkCr:
          if (bytes[i] !== CR) {
            this.fail('bulk_not_terminated');
            break;
          }
          i++;
          this.state = State.BulkLf;
          break;
        case State.BulkLf:
          if (bytes[i] !== LF) {
            this.fail('bulk_not_terminated');
            break;
          }
          i++;
          this.state = State.Type;
          this.endBulk(timestampNs);
          break;
        case State.Resync:
          i = this.resync(bytes, i, end);
          break;
      }
    }
  }

  /** `lengthBytes` bytes were not captured. Inside a bulk payload they are skipped; elsewhere the parser resyncs. */
  gap(lengthBytes: number, _timestampNs: number): void {
    if (lengthBytes <= 0) return;
    if (this.state === State.Bulk && lengthBytes <= this.bulkRemaining) {
      this.bulkRemaining -= lengthBytes;
      if (this.bulkRemaining === 0) this.state = State.BulkCr;
      return;
    }
    if (this.state === State.Resync) return;
    if (this.state === State.Type && !this.inMessage) {
      // Between messages: whatever was lost, the next line may start anywhere.
      this.counters.inc('gap_resync.redis');
    } else {
      this.counters.inc('gap_resync.redis');
      this.counters.inc('truncated_message.redis');
    }
    this.enterResync();
  }

  /** The stream ended: a message in progress is counted as truncated. */
  end(): void {
    if (this.inMessage) this.counters.inc('truncated_message.redis');
    this.reset();
  }

  private endLine(timestampNs: number): void {
    let length = this.lineLength;
    if (length > 0 && this.line[length - 1] === CR) length--;
    else if (!this.lineOverflow) {
      this.fail('line_not_crlf');
      return;
    }
    const type = this.type;
    switch (type) {
      case T.Simple:
      case T.Double:
      case T.BigNumber: {
        const text = textCut(this.line, length, this.options.maxBodyBytes);
        this.leaf(text, JSON.stringify(text), NaN, timestampNs);
        return;
      }
      case T.Error: {
        const text = `-${textCut(this.line, length, this.options.maxBodyBytes)}`;
        this.leaf(text, JSON.stringify(text), NaN, timestampNs);
        return;
      }
      case T.Boolean: {
        if (length !== 1 || (this.line[0] !== 0x74 && this.line[0] !== 0x66)) {
          this.fail('bad_boolean');
          return;
        }
        const text = this.line[0] === 0x74 ? 'true' : 'false';
        this.leaf(text, JSON.stringify(text), NaN, timestampNs);
        return;
      }
      case T.Null:
        if (length !== 0) {
          this.fail('bad_null');
          return;
        }
        this.leaf(NIL_TEXT, 'null', NaN, timestampNs);
        return;
    }
    if (this.lineOverflow || length > MAX_DIGITS) {
      this.fail(type === T.Integer ? 'bad_integer' : 'bad_length');
      return;
    }
    const n = parseDecimal(this.line, length);
    if (Number.isNaN(n)) {
      this.fail(type === T.Integer ? 'bad_integer' : 'bad_length');
      return;
    }
    if (type === T.Integer && !Number.isSafeInteger(n)) {
      // The digits as sent: int64 replies can exceed 2^53.
      const text = latin1(this.line, 0, length);
      this.leaf(text, JSON.stringify(text), n, timestampNs);
      return;
    }
    this.onNumber(type, n, timestampNs);
  }

  /** A length line (bulk, blob, verbatim, aggregates) or a safe integer reply, `n` its value. */
  private onNumber(type: number, n: number, timestampNs: number): void {
    if (type === T.Integer) {
      const text = String(n);
      this.leaf(text, this.side === RespSide.Request ? '' : `"${text}"`, n, timestampNs);
      return;
    }
    if (type === T.Bulk || type === T.BlobError || type === T.Verbatim) {
      if (n === -1 && type === T.Bulk) {
        this.leaf(NIL_TEXT, 'null', NaN, timestampNs);
        return;
      }
      if (n < 0 || n > MAX_BULK_BYTES) {
        this.fail('bad_length');
        return;
      }
      this.bulkType = type;
      this.bulkRemaining = n;
      this.bulkKept = 0;
      this.state = n === 0 ? State.BulkCr : State.Bulk;
      return;
    }
    // Aggregates: *, %, ~, >, |
    if (n === -1 && (type === T.Array || type === T.Push || type === T.Set)) {
      this.leaf(NIL_TEXT, 'null', NaN, timestampNs);
      return;
    }
    if (n < 0 || n > MAX_AGGREGATE_LENGTH) {
      this.fail('bad_length');
      return;
    }
    if (this.stack.length >= this.options.maxDepth) {
      this.fail('too_deep');
      return;
    }
    const count = type === T.Map || type === T.Attribute ? n * 2 : n;
    const frame: Frame = {
      type,
      remaining: count,
      parts: [],
      plain: this.stack.length === 0 ? [] : null,
      elided: false,
      lastInteger: NaN,
    };
    this.stack.push(frame);
    this.state = State.Type;
    if (count === 0) this.closeFrames(timestampNs);
  }

  private endBulk(timestampNs: number): void {
    if (!this.wantsText()) {
      this.bulkKept = 0;
      this.leaf('', '', NaN, timestampNs);
      return;
    }
    let text = this.bulkText ?? utf8(this.bulk, 0, this.bulkKept);
    this.bulkText = null;
    this.bulkKept = 0;
    if (this.bulkType === T.BlobError) text = `-${text}`;
    else if (this.bulkType === T.Verbatim && text.length >= 4 && text.charCodeAt(3) === 0x3a) text = text.slice(4);
    this.leaf(text, this.side === RespSide.Request ? '' : JSON.stringify(text), NaN, timestampNs);
  }

  /**
   * False once the innermost open aggregate is past the rendering budget:
   * its remaining elements are counted but not decoded.
   */
  private wantsText(): boolean {
    const frame = this.stack[this.stack.length - 1];
    return frame === undefined || !frame.elided;
  }

  /** A complete value: add it to the open aggregate, or finish the message. */
  private leaf(plain: string, json: string, integer: number, timestampNs: number): void {
    this.state = State.Type;
    const frame = this.stack[this.stack.length - 1];
    if (frame === undefined) {
      this.emit(this.type, plain, [], false, NaN, timestampNs);
      return;
    }
    this.addElement(frame, plain, json, integer);
    frame.remaining--;
    if (frame.remaining === 0) this.closeFrames(timestampNs);
  }

  private addElement(frame: Frame, plain: string, json: string, integer: number): void {
    frame.lastInteger = integer;
    if (frame.elided) return;
    // Requests keep only the plain words (the session renders req_args); replies render JSON.
    const request = this.side === RespSide.Request;
    const cost = request ? plain.length + 3 : json.length + 1;
    if (this.rendered + cost > this.options.maxBodyBytes && (frame.plain ?? frame.parts).length > 0) {
      frame.elided = true;
      if (!request) frame.parts.push(JSON.stringify(ELIDED));
      this.rendered += 3;
      return;
    }
    this.rendered += cost;
    if (!request) frame.parts.push(json);
    frame.plain?.push(plain);
  }

  /** Pops every aggregate that just received its last element. */
  private closeFrames(timestampNs: number): void {
    for (;;) {
      const frame = this.stack.pop()!;
      const json = `[${frame.parts.join(',')}]`;
      const parent = this.stack[this.stack.length - 1];
      if (parent === undefined) {
        if (frame.type === T.Attribute) {
          // Out-of-band metadata before the real reply: not a message of its own.
          this.rendered = 0;
          this.state = State.Type;
          return;
        }
        this.emit(frame.type, json, frame.plain!, frame.elided, frame.lastInteger, timestampNs);
        return;
      }
      if (frame.type !== T.Attribute) {
        this.addElement(parent, json, json, NaN);
        parent.remaining--;
      }
      if (parent.remaining > 0) {
        this.state = State.Type;
        return;
      }
    }
  }

  private emit(type: number, text: string, elements: string[], elided: boolean, lastInteger: number, timestampNs: number): void {
    const msg: RespMessage = { startNs: this.startNs, endNs: timestampNs, type, text, elements, elided, lastInteger };
    this.inMessage = false;
    this.rendered = 0;
    this.state = State.Type;
    this.listener.onMessage(msg, this.side);
  }

  private fail(reason: string): void {
    this.counters.inc(`parse_error.redis.${reason}`);
    this.enterResync();
  }

  private enterResync(): void {
    this.reset();
    this.state = State.Resync;
    this.afterLf = false;
    this.listener.onResync(this.side);
  }

  private reset(): void {
    this.stack.length = 0;
    this.inMessage = false;
    this.rendered = 0;
    this.lineLength = 0;
    this.bulkKept = 0;
    this.bulkText = null;
    this.bulkRemaining = 0;
    this.state = State.Type;
  }

  /**
   * Skips to the first byte after an LF that can start a message: '*' for
   * requests (clients send arrays), any type byte for responses. Returns the
   * index to continue from.
   */
  private resync(bytes: Uint8Array, i: number, end: number): number {
    const from = i;
    let afterLf = this.afterLf;
    for (; i < end; i++) {
      const b = bytes[i]!;
      if (afterLf && (this.side === RespSide.Request ? b === T.Array : TYPE_BYTES[b] === 1)) {
        this.state = State.Type;
        break;
      }
      afterLf = b === LF;
    }
    this.afterLf = afterLf;
    if (i > from) this.counters.inc('resync_skipped_bytes.redis', i - from);
    return i;
  }
}

/** Value of the last successful scanNumberLine. */
let scannedValue = 0;

/**
 * Reads "[-]digits\r\n" at bytes[i, end): returns the index after the LF and
 * sets scannedValue, or 0 when the line is incomplete here, not a plain
 * number, or too long (the caller then takes the general path).
 */
function scanNumberLine(bytes: Uint8Array, i: number, end: number): number {
  let at = i;
  let negative = false;
  if (at < end && bytes[at] === 0x2d) {
    negative = true;
    at++;
  }
  const first = at;
  let n = 0;
  for (; at < end && at - first < 15; at++) {
    const d = bytes[at]! - 0x30;
    if (d < 0 || d > 9) break;
    n = n * 10 + d;
  }
  if (at === first || at + 1 >= end || bytes[at] !== CR || bytes[at + 1] !== LF) return 0;
  scannedValue = negative ? -n : n;
  return at + 2;
}

/** Signed decimal in line[0, length); NaN unless it is one. */
function parseDecimal(line: Uint8Array, length: number): number {
  if (length === 0) return NaN;
  let i = 0;
  let negative = false;
  if (line[0] === 0x2d) {
    negative = true;
    i = 1;
    if (length === 1) return NaN;
  } else if (line[0] === 0x2b) {
    i = 1;
    if (length === 1) return NaN;
  }
  let n = 0;
  for (; i < length; i++) {
    const d = line[i]! - 0x30;
    if (d < 0 || d > 9) return NaN;
    n = n * 10 + d;
  }
  return negative ? -n : n;
}

function textCut(bytes: Uint8Array, length: number, max: number): string {
  return utf8(bytes, 0, Math.min(length, max));
}
