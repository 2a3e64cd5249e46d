// A minimal protocol-buffers encoder for the OTLP messages the exporter
// sends. Writing straight from Arrow columns into one growable buffer keeps
// the export hot path free of per-span objects (the OTel SDK path builds a
// ReadableSpan and a transformer object per span).

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

const encoder = new TextEncoder();

/**
 * Appends protobuf fields to a growable buffer. Nested messages are written
 * in place: begin() reserves nothing, end() measures what was written since
 * and shifts it right by the size of the length prefix (a copyWithin, no
 * temporary buffer).
 */
export class ProtoWriter {
  private buffer: Uint8Array;
  private view: DataView;
  private length = 0;
  private readonly starts: number[] = [];

  constructor(initialBytes = 64 * 1024) {
    this.buffer = new Uint8Array(initialBytes);
    this.view = new DataView(this.buffer.buffer);
  }

  get byteLength(): number {
    return this.length;
  }

  reset(): void {
    this.length = 0;
    this.starts.length = 0;
  }

  /** A copy of the bytes written so far. */
  finish(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }

  /** Opens a length-delimited field; close it with end(). */
  begin(field: number): void {
    this.tag(field, WIRE_BYTES);
    this.starts.push(this.length);
  }

  end(): void {
    const start = this.starts.pop()!;
    const size = this.length - start;
    const prefix = varintSize(size);
    this.ensure(prefix);
    this.buffer.copyWithin(start + prefix, start, this.length);
    let at = start;
    let value = size;
    while (value > 0x7f) {
      this.buffer[at++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    this.buffer[at] = value;
    this.length += prefix;
  }

  string(field: number, value: string): void {
    this.tag(field, WIRE_BYTES);
    // UTF-8 is at most 3 bytes per UTF-16 unit; encode into place, then fix the length prefix.
    const max = value.length * 3;
    const prefix = varintSize(max);
    this.ensure(prefix + max);
    const { written } = encoder.encodeInto(value, this.buffer.subarray(this.length + prefix));
    const actual = varintSize(written);
    if (actual !== prefix) this.buffer.copyWithin(this.length + actual, this.length + prefix, this.length + prefix + written);
    this.writeVarint(written);
    this.length += written;
  }

  /** Bytes already encoded as a message body (e.g. a span), as field `field`. */
  bytes(field: number, value: Uint8Array): void {
    this.tag(field, WIRE_BYTES);
    this.writeVarint(value.length);
    this.raw(value);
  }

  /** Bytes appended as they are (pre-encoded fields). */
  raw(value: Uint8Array): void {
    this.ensure(value.length);
    this.buffer.set(value, this.length);
    this.length += value.length;
  }

  /** `bytes` field from 2 hex chars per byte (trace and span ids). */
  hexBytes(field: number, hex: string): void {
    const n = hex.length >>> 1;
    this.tag(field, WIRE_BYTES);
    this.writeVarint(n);
    this.ensure(n);
    for (let i = 0; i < n; i++) this.buffer[this.length + i] = parseInt(hex.substr(i * 2, 2), 16);
    this.length += n;
  }

  /** `bytes` field of `n` random bytes (ids when no context was propagated). */
  randomBytes(field: number, n: number, random: () => number): void {
    this.tag(field, WIRE_BYTES);
    this.writeVarint(n);
    this.ensure(n);
    for (let i = 0; i < n; i++) this.buffer[this.length + i] = (random() * 256) | 0;
    if (this.buffer[this.length] === 0) this.buffer[this.length] = 1; // an all-zero id is invalid
    this.length += n;
  }

  /** uint32/int32 (non-negative)/enum/bool. */
  uint32(field: number, value: number): void {
    this.tag(field, WIRE_VARINT);
    this.writeVarint(value >>> 0);
  }

  /** int64 as a varint, from a JS number (exact up to 2^53). */
  int64(field: number, value: number): void {
    this.tag(field, WIRE_VARINT);
    if (value >= 0 && value < 0x80000000) {
      this.writeVarint(value);
      return;
    }
    let lo = value % 0x100000000;
    let hi = Math.floor(value / 0x100000000);
    if (value < 0) {
      // two's complement over 64 bits
      lo = (lo + 0x100000000) % 0x100000000;
      hi = (hi + 0x100000000) % 0x100000000;
    }
    this.ensure(10);
    while (hi > 0 || lo > 0x7f) {
      this.buffer[this.length++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | ((hi & 0x7f) << 25)) >>> 0;
      hi >>>= 7;
    }
    this.buffer[this.length++] = lo;
  }

  /** fixed64 from its high and low 32-bit halves (timestamps without BigInt). */
  fixed64Parts(field: number, hi: number, lo: number): void {
    this.tag(field, WIRE_FIXED64);
    this.ensure(8);
    this.view.setUint32(this.length, lo >>> 0, true);
    this.view.setUint32(this.length + 4, hi >>> 0, true);
    this.length += 8;
  }

  fixed64(field: number, value: number): void {
    this.fixed64Parts(field, Math.floor(value / 0x100000000), value % 0x100000000);
  }

  fixed32(field: number, value: number): void {
    this.tag(field, WIRE_FIXED32);
    this.ensure(4);
    this.view.setUint32(this.length, value >>> 0, true);
    this.length += 4;
  }

  double(field: number, value: number): void {
    this.tag(field, WIRE_FIXED64);
    this.ensure(8);
    this.view.setFloat64(this.length, value, true);
    this.length += 8;
  }

  /** packed repeated fixed64 */
  packedFixed64(field: number, values: ArrayLike<number>): void {
    this.tag(field, WIRE_BYTES);
    this.writeVarint(values.length * 8);
    this.ensure(values.length * 8);
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      this.view.setUint32(this.length, v % 0x100000000, true);
      this.view.setUint32(this.length + 4, Math.floor(v / 0x100000000), true);
      this.length += 8;
    }
  }

  /** packed repeated double */
  packedDouble(field: number, values: ArrayLike<number>): void {
    this.tag(field, WIRE_BYTES);
    this.writeVarint(values.length * 8);
    this.ensure(values.length * 8);
    for (let i = 0; i < values.length; i++) {
      this.view.setFloat64(this.length, values[i]!, true);
      this.length += 8;
    }
  }

  private tag(field: number, wire: number): void {
    this.writeVarint((field << 3) | wire);
  }

  private writeVarint(value: number): void {
    this.ensure(5);
    while (value > 0x7f) {
      this.buffer[this.length++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    this.buffer[this.length++] = value;
  }

  private ensure(extra: number): void {
    if (this.length + extra <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
    this.view = new DataView(next.buffer);
  }
}

function varintSize(value: number): number {
  let size = 1;
  while (value > 0x7f) {
    value >>>= 7;
    size++;
  }
  return size;
}

/** Reads the varint fields of a message (enough to read OTLP partial-success responses). */
export function readFields(bytes: Uint8Array): Map<number, number | Uint8Array> {
  const fields = new Map<number, number | Uint8Array>();
  let at = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (at >= bytes.length) throw new Error('decode protobuf: truncated varint');
      const b = bytes[at++]!;
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
    }
  };
  while (at < bytes.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === WIRE_VARINT) fields.set(field, varint());
    else if (wire === WIRE_BYTES) {
      const n = varint();
      fields.set(field, bytes.subarray(at, at + n));
      at += n;
    } else if (wire === WIRE_FIXED64) at += 8;
    else if (wire === WIRE_FIXED32) at += 4;
    else throw new Error(`decode protobuf: wire type ${wire}`);
  }
  return fields;
}
