// Splits one direction of a binary, length-prefixed protocol (PostgreSQL,
// MySQL) into messages without holding more than a bounded prefix of each.
//
// A message whose header and body lie in one pushed chunk is handed over as a
// view into that chunk (no copy: the common case). Otherwise the header and at
// most `maxKeptBytes` of the body are copied; the rest of the body is counted
// and skipped, so a 100 MB DataRow costs the same memory as a small one.

/** How a protocol's header reads; `bytes[at, at + headerBytes())` is a complete header. */
export interface FrameFormat {
  /** Size of the next message's header (may depend on the session's state, e.g. PostgreSQL's untagged startup). */
  headerBytes(): number;
  /** Body length announced by the header, or -1 when the header cannot start a message. */
  bodyLength(bytes: Uint8Array, at: number): number;
}

export interface FrameListener {
  /**
   * One message: header at `head[headAt, headAt + headerBytes)`, the kept body
   * at `body[start, end)` (`end - start < bodyLength` when cut). Views are
   * valid only during the call.
   */
  onFrame(
    head: Uint8Array, headAt: number, body: Uint8Array, start: number, end: number,
    bodyLength: number, startNs: number, endNs: number,
  ): void;
  /** A header was invalid: the stream is out of sync from here. */
  onInvalidHeader(): void;
}

export class LengthPrefixedFramer {
  private readonly format: FrameFormat;
  private readonly listener: FrameListener;
  private readonly maxKeptBytes: number;
  private readonly head = new Uint8Array(8);
  private headLength = 0;
  private headerBytes = 0;
  /** Body length of the message in progress; -1 while reading a header. */
  private bodyLength = -1;
  private bodySeen = 0;
  private body: Uint8Array = new Uint8Array(0);
  private bodyKept = 0;
  private startNs = 0;

  constructor(format: FrameFormat, listener: FrameListener, maxKeptBytes: number) {
    this.format = format;
    this.listener = listener;
    this.maxKeptBytes = maxKeptBytes;
  }

  /** Bytes held for a message in progress. */
  retainedBytes(): number {
    return this.body.length + this.headLength;
  }

  /** True between messages. */
  get atBoundary(): boolean {
    return this.headLength === 0 && this.bodyLength < 0;
  }

  /** Forget any message in progress (after a gap or on resynchronization). */
  reset(): void {
    this.headLength = 0;
    this.bodyLength = -1;
    this.bodySeen = 0;
    this.bodyKept = 0;
    if (this.body.length > 4096) this.body = new Uint8Array(0);
  }

  /**
   * Feed `bytes[start, end)`. Returns the offset where framing stopped: `end`
   * normally, earlier when a header was invalid (the listener was told).
   */
  push(bytes: Uint8Array, start: number, end: number, timestampNs: number): number {
    let i = start;
    while (i < end) {
      if (this.bodyLength < 0) {
        if (this.headLength === 0) {
          const hb = this.format.headerBytes();
          if (end - i >= hb) {
            const length = this.format.bodyLength(bytes, i);
            if (length < 0) {
              this.listener.onInvalidHeader();
              return i;
            }
            if (end - i - hb >= length) {
              this.listener.onFrame(bytes, i, bytes, i + hb, i + hb + length, length, timestampNs, timestampNs);
              i += hb + length;
              continue;
            }
          }
          this.headerBytes = hb;
          this.startNs = timestampNs;
        }
        // At most 8 header bytes: a loop beats creating a subarray view.
        const head = this.head;
        while (this.headLength < this.headerBytes && i < end) head[this.headLength++] = bytes[i++]!;
        if (this.headLength < this.headerBytes) return end;
        const length = this.format.bodyLength(this.head, 0);
        if (length < 0) {
          this.headLength = 0;
          this.listener.onInvalidHeader();
          return i;
        }
        this.bodyLength = length;
        this.bodySeen = 0;
        this.bodyKept = 0;
      } else {
        const take = Math.min(end - i, this.bodyLength - this.bodySeen);
        const keep = Math.min(take, this.maxKeptBytes - this.bodyKept);
        if (keep > 0) {
          const need = this.bodyKept + keep;
          if (need > this.body.length) {
            const grown = new Uint8Array(Math.min(this.maxKeptBytes, Math.max(need, this.body.length * 2, 256)));
            grown.set(this.body.subarray(0, this.bodyKept));
            this.body = grown;
          }
          if (keep <= 32) for (let k = 0; k < keep; k++) this.body[this.bodyKept + k] = bytes[i + k]!;
          else this.body.set(bytes.subarray(i, i + keep), this.bodyKept);
          this.bodyKept = need;
        }
        this.bodySeen += take;
        i += take;
      }
      if (this.bodyLength >= 0 && this.bodySeen === this.bodyLength) {
        const length = this.bodyLength;
        this.bodyLength = -1;
        this.headLength = 0;
        this.listener.onFrame(this.head, 0, this.body, 0, this.bodyKept, length, this.startNs, timestampNs);
      }
    }
    return end;
  }
}
