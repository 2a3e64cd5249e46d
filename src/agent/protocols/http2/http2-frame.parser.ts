// Incremental HTTP/2 frame parser (RFC 9113 §4, §6) for one direction of one
// connection. Bytes may be split anywhere. It strips padding and priority
// fields, joins HEADERS/PUSH_PROMISE with their CONTINUATION frames into one
// header block (bounded by maxHeaderBlockBytes), streams DATA payloads to the
// listener without buffering them, and skips every other payload.
//
// Sync: HTTP/2 has no resynchronization point and HPACK state depends on every
// header block, so the parser tolerates a gap only inside a payload it does
// not need (DATA contents, padding, control frames); any other gap or
// malformed frame stops it for good (listener.onError). Never throws.

export const FrameType = {
  Data: 0, Headers: 1, Priority: 2, RstStream: 3, Settings: 4,
  PushPromise: 5, Ping: 6, Goaway: 7, WindowUpdate: 8, Continuation: 9,
} as const;

const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;

/** "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (RFC 9113 §3.4). */
export const CLIENT_PREFACE: Uint8Array = new TextEncoder().encode('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const FRAME_HEADER_BYTES = 9;

/** Why the parser stopped (a counter reason). */
export type FrameError =
  | 'bad_preface'
  | 'bad_frame' // a frame the RFC calls a connection error (wrong stream, length, padding)
  | 'expected_continuation'
  | 'unexpected_continuation'
  | 'header_block_too_large'
  | 'gap'; // bytes lost where they were needed

export interface Http2FrameListener {
  /**
   * A complete header block `block[start, end)` for `streamId` (HEADERS, or
   * PUSH_PROMISE when `promisedStreamId` > 0). `startNs`: first byte of the
   * first frame; `endNs`: last byte of the last one. The view is valid only
   * during the call.
   */
  onHeaderBlock(streamId: number, endStream: boolean, promisedStreamId: number, block: Uint8Array, start: number, end: number, startNs: number, endNs: number): void;
  /** DATA contents (padding removed); `bytes` null when these `end - start` bytes were lost in a gap. */
  onData(streamId: number, bytes: Uint8Array | null, start: number, end: number, timestampNs: number): void;
  /** A DATA frame with END_STREAM ended at `timestampNs`. */
  onDataEndStream(streamId: number, timestampNs: number): void;
  onRstStream(streamId: number, timestampNs: number): void;
  /** The parser stopped; no further calls follow. */
  onError(reason: FrameError): void;
}

export interface Http2FrameParserOptions {
  /** Expect (and skip) the client connection preface first: the request side. */
  readonly clientPreface: boolean;
  /** Bound of one header block (all its frames' fragments together). */
  readonly maxHeaderBlockBytes: number;
}

const State = {
  Preface: 0,
  FrameHeader: 1,
  /** DATA: the pad length byte. */
  DataPadLength: 2,
  DataContents: 3,
  /** Padding of a DATA frame, or any payload skipped whole. */
  Skip: 4,
  /** HEADERS / PUSH_PROMISE / CONTINUATION payload copied into the block buffer. */
  Block: 5,
  Stopped: 6,
} as const;
type State = (typeof State)[keyof typeof State];

export class Http2FrameParser {
  private readonly listener: Http2FrameListener;
  private readonly maxHeaderBlockBytes: number;
  private state: State;
  private prefaceMatched = 0;
  /** Frame header bytes so far (a plain array: sessions are created per connection and typed arrays cost more to allocate). */
  private readonly header: number[] = [0, 0, 0, 0, 0, 0, 0, 0, 0];
  private headerLen = 0;
  private frameType = 0;
  private frameFlags = 0;
  private streamId = 0;
  private frameLength = 0;
  /** Payload bytes of the current frame still to come (in the current state's sense). */
  private left = 0;
  /** DATA padding that follows the contents. */
  private padLeft = 0;
  private frameStartNs = 0;
  /** Frame to report when a Skip ends (RST_STREAM, DATA with END_STREAM), else -1. */
  private skipThenType = -1;
  // Header block being assembled across HEADERS/PUSH_PROMISE + CONTINUATION.
  private block: Uint8Array | null = null;
  private blockLen = 0;
  /** Where the current frame's payload starts in `block`. */
  private frameAt = 0;
  private blockStreamId = 0;
  private blockEndStream = false;
  private blockPromisedId = 0;
  private blockStartNs = 0;
  /** Stream whose CONTINUATION must come next, or 0. */
  private continuationFor = 0;

  constructor(options: Http2FrameParserOptions, listener: Http2FrameListener) {
    this.listener = listener;
    this.maxHeaderBlockBytes = options.maxHeaderBlockBytes;
    this.state = options.clientPreface ? State.Preface : State.FrameHeader;
  }

  get stopped(): boolean {
    return this.state === State.Stopped;
  }

  /** Bytes held: the header block buffer. */
  retainedBytes(): number {
    return this.block === null ? 0 : this.block.length;
  }

  push(bytes: Uint8Array, start: number, end: number, timestampNs: number): void {
    let i = start;
    while (i < end) {
      switch (this.state) {
        case State.Preface: {
          const want = CLIENT_PREFACE.length - this.prefaceMatched;
          const n = Math.min(want, end - i);
          for (let k = 0; k < n; k++) {
            if (bytes[i + k] !== CLIENT_PREFACE[this.prefaceMatched + k]) return this.fail('bad_preface');
          }
          this.prefaceMatched += n;
          i += n;
          if (this.prefaceMatched === CLIENT_PREFACE.length) this.state = State.FrameHeader;
          break;
        }
        case State.FrameHeader: {
          if (this.headerLen === 0) this.frameStartNs = timestampNs;
          const n = Math.min(FRAME_HEADER_BYTES - this.headerLen, end - i);
          for (let k = 0; k < n; k++) this.header[this.headerLen + k] = bytes[i + k]!;
          this.headerLen += n;
          i += n;
          if (this.headerLen === FRAME_HEADER_BYTES) {
            this.headerLen = 0;
            this.beginFrame(timestampNs);
          }
          break;
        }
        case State.DataPadLength: {
          const padLength = bytes[i++]!;
          if (padLength > this.frameLength - 1) return this.fail('bad_frame');
          this.padLeft = padLength;
          this.left = this.frameLength - 1 - padLength;
          this.state = State.DataContents;
          if (this.left === 0) this.endDataContents(timestampNs);
          break;
        }
        case State.DataContents: {
          const n = Math.min(this.left, end - i);
          this.listener.onData(this.streamId, bytes, i, i + n, timestampNs);
          if ((this.state as State) === State.Stopped) return; // the listener may stop the session
          this.left -= n;
          i += n;
          if (this.left === 0) this.endDataContents(timestampNs);
          break;
        }
        case State.Skip: {
          const n = Math.min(this.left, end - i);
          this.left -= n;
          i += n;
          if (this.left === 0) this.endSkip(timestampNs);
          break;
        }
        case State.Block: {
          const n = Math.min(this.left, end - i);
          this.block!.set(bytes.subarray(i, i + n), this.blockLen);
          this.blockLen += n;
          this.left -= n;
          i += n;
          if (this.left === 0) this.endBlockFrame(timestampNs);
          break;
        }
        case State.Stopped:
          return;
      }
    }
  }

  /** `lengthBytes` bytes of this direction were not captured. */
  gap(lengthBytes: number, timestampNs: number): void {
    let n = lengthBytes;
    while (n > 0) {
      if (this.state === State.DataContents && this.left > 0) {
        const take = Math.min(n, this.left);
        this.listener.onData(this.streamId, null, 0, take, timestampNs);
        if ((this.state as State) === State.Stopped) return;
        this.left -= take;
        n -= take;
        if (this.left === 0) this.endDataContents(timestampNs);
      } else if (this.state === State.Skip && this.left > 0) {
        const take = Math.min(n, this.left);
        this.left -= take;
        n -= take;
        if (this.left === 0) this.endSkip(timestampNs);
      } else {
        this.fail('gap');
        return;
      }
    }
  }

  /** No more bytes will come (e.g. another fatal error elsewhere). */
  stop(): void {
    this.state = State.Stopped;
    this.block = null;
  }

  private beginFrame(timestampNs: number): void {
    const h = this.header;
    const length = (h[0]! << 16) | (h[1]! << 8) | h[2]!;
    const type = h[3]!;
    const flags = h[4]!;
    const streamId = ((h[5]! & 0x7f) << 24 | (h[6]! << 16) | (h[7]! << 8) | h[8]!) >>> 0;
    this.frameType = type;
    this.frameFlags = flags;
    this.streamId = streamId;
    this.frameLength = length;
    this.skipThenType = -1;
    if (this.continuationFor !== 0 && (type !== FrameType.Continuation || streamId !== this.continuationFor)) {
      return this.fail('expected_continuation');
    }
    switch (type) {
      case FrameType.Data:
        if (streamId === 0) return this.fail('bad_frame');
        if ((flags & FLAG_PADDED) !== 0) {
          if (length < 1) return this.fail('bad_frame');
          this.state = State.DataPadLength;
          return;
        }
        this.padLeft = 0;
        this.left = length;
        this.state = State.DataContents;
        if (length === 0) this.endDataContents(timestampNs);
        return;
      case FrameType.Headers:
      case FrameType.PushPromise:
        if (streamId === 0) return this.fail('bad_frame');
        this.blockLen = 0;
        this.blockStreamId = streamId;
        this.blockEndStream = type === FrameType.Headers && (flags & FLAG_END_STREAM) !== 0;
        this.blockPromisedId = 0;
        this.blockStartNs = this.frameStartNs;
        return this.beginBlockFrame(timestampNs);
      case FrameType.Continuation:
        if (this.continuationFor === 0) return this.fail('unexpected_continuation');
        return this.beginBlockFrame(timestampNs);
      case FrameType.RstStream:
        if (streamId === 0 || length !== 4) return this.fail('bad_frame');
        return this.beginSkip(length, timestampNs, FrameType.RstStream);
      case FrameType.Priority:
        if (streamId === 0 || length !== 5) return this.fail('bad_frame');
        return this.beginSkip(length, timestampNs, -1);
      case FrameType.Settings:
        if (streamId !== 0 || length % 6 !== 0 || ((flags & 0x1) !== 0 && length !== 0)) return this.fail('bad_frame');
        return this.beginSkip(length, timestampNs, -1);
      case FrameType.Ping:
        if (streamId !== 0 || length !== 8) return this.fail('bad_frame');
        return this.beginSkip(length, timestampNs, -1);
      case FrameType.Goaway:
        if (streamId !== 0 || length < 8) return this.fail('bad_frame');
        return this.beginSkip(length, timestampNs, -1);
      case FrameType.WindowUpdate:
        if (length !== 4) return this.fail('bad_frame');
        return this.beginSkip(length, timestampNs, -1);
      default:
        // Unknown frame types are ignored (RFC 9113 §4.1).
        return this.beginSkip(length, timestampNs, -1);
    }
  }

  private beginSkip(length: number, timestampNs: number, thenType: number): void {
    this.left = length;
    this.skipThenType = thenType;
    this.state = State.Skip;
    if (length === 0) this.endSkip(timestampNs);
  }

  private endSkip(timestampNs: number): void {
    this.state = State.FrameHeader;
    if (this.skipThenType === FrameType.RstStream) this.listener.onRstStream(this.streamId, timestampNs);
    else if (this.skipThenType === FrameType.Data) this.listener.onDataEndStream(this.streamId, timestampNs);
  }

  private endDataContents(timestampNs: number): void {
    const endStream = (this.frameFlags & FLAG_END_STREAM) !== 0;
    this.beginSkip(this.padLeft, timestampNs, endStream ? FrameType.Data : -1);
  }

  /** Copy this frame's payload after the block so far; fields are stripped when it is complete. */
  private beginBlockFrame(timestampNs: number): void {
    const need = this.blockLen + this.frameLength;
    if (need > this.maxHeaderBlockBytes) return this.fail('header_block_too_large');
    if (this.block === null || this.block.length < need) {
      const grown = new Uint8Array(Math.min(this.maxHeaderBlockBytes, Math.max(need, 2 * (this.block?.length ?? 512))));
      if (this.block !== null) grown.set(this.block.subarray(0, this.blockLen));
      this.block = grown;
    }
    this.frameAt = this.blockLen;
    this.left = this.frameLength;
    this.state = State.Block;
    if (this.frameLength === 0) this.endBlockFrame(timestampNs);
  }

  private endBlockFrame(timestampNs: number): void {
    const block = this.block!;
    let from = this.frameAt;
    let to = this.blockLen;
    const type = this.frameType;
    const flags = this.frameFlags;
    if (type !== FrameType.Continuation) {
      let padLength = 0;
      if ((flags & FLAG_PADDED) !== 0) {
        if (from >= to) return this.fail('bad_frame');
        padLength = block[from++]!;
      }
      if (type === FrameType.Headers && (flags & FLAG_PRIORITY) !== 0) from += 5;
      if (type === FrameType.PushPromise) {
        if (from + 4 > to) return this.fail('bad_frame');
        this.blockPromisedId = ((block[from]! & 0x7f) << 24 | (block[from + 1]! << 16) | (block[from + 2]! << 8) | block[from + 3]!) >>> 0;
        if (this.blockPromisedId === 0) return this.fail('bad_frame');
        from += 4;
      }
      to -= padLength;
      if (from > to) return this.fail('bad_frame');
    }
    if (from !== this.frameAt) block.copyWithin(this.frameAt, from, to);
    this.blockLen = this.frameAt + (to - from);
    this.state = State.FrameHeader;
    if ((flags & FLAG_END_HEADERS) === 0) {
      this.continuationFor = this.blockStreamId;
      return;
    }
    this.continuationFor = 0;
    const len = this.blockLen;
    this.blockLen = 0;
    this.listener.onHeaderBlock(this.blockStreamId, this.blockEndStream, this.blockPromisedId, block, 0, len, this.blockStartNs, timestampNs);
    // A block much larger than usual is not kept for the life of the connection.
    if (block.length > 16 * 1024 && this.block === block) this.block = null;
  }

  private fail(reason: FrameError): void {
    if (this.state === State.Stopped) return;
    this.state = State.Stopped;
    this.block = null;
    this.listener.onError(reason);
  }
}
