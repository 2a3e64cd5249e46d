// gRPC bodies without a proto descriptor. A gRPC body is a sequence of
// length-prefixed messages (1 byte compressed flag, 4 bytes big-endian
// length, RFC-less but fixed by the gRPC HTTP/2 protocol document). The row
// shows each message as its protobuf wire fields, rendered without a schema:
//
//   {1:"world" 2:42}                     field number: value
//   {1:{1:"nested"}}                     a length-delimited field that parses as a message
//   {3:<40 bytes>}                       other bytes
//   <12 bytes compressed>                compressed messages are not inflated
//   <1000 bytes, 488 captured>           a message cut by the body capture limit
//
// Messages are separated by a space. Scalars are printed as unsigned varints
// (sint/zigzag cannot be told apart without a schema) and fixed32/fixed64 as
// unsigned integers.

import { utf8 } from '../../bytes.ts';

/** Nesting rendered before falling back to `<N bytes>`. */
const MAX_DEPTH = 3;

/**
 * Renders the captured prefix `bytes[0, captured)` of a gRPC body whose full
 * size is `size`. Pure; never throws (malformed input renders as sizes).
 */
export function renderGrpcBody(bytes: Uint8Array, captured: number, size: number): string {
  let out = '';
  let i = 0;
  while (i < size) {
    if (i + 5 > captured) {
      out += `${out === '' ? '' : ' '}<${size - i} bytes, ${Math.max(0, captured - i)} captured>`;
      break;
    }
    const compressed = bytes[i] !== 0;
    const length = (bytes[i + 1]! * 0x1000000) + ((bytes[i + 2]! << 16) | (bytes[i + 3]! << 8) | bytes[i + 4]!);
    const from = i + 5;
    const to = from + length;
    let text: string;
    if (to > size) text = `<${size - from} bytes of a ${length}-byte message>`;
    else if (to > captured) text = `<${length} bytes, ${Math.max(0, captured - from)} captured>`;
    else if (compressed) text = `<${length} bytes compressed>`;
    else text = renderMessage(bytes, from, to, 0) ?? `<${length} bytes>`;
    out += out === '' ? text : ` ${text}`;
    i = to;
  }
  return out;
}

/** Protobuf wire fields of `bytes[start, end)` as `{n:value ...}`, or null when they do not parse. */
function renderMessage(bytes: Uint8Array, start: number, end: number, depth: number): string | null {
  let out = '{';
  let i = start;
  const cursor = { at: 0 };
  while (i < end) {
    const key = varint(bytes, i, end, cursor);
    if (key < 0) return null;
    i = cursor.at;
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    if (field === 0) return null;
    let value: string;
    switch (wireType) {
      case 0: {
        const v = varint(bytes, i, end, cursor);
        if (v < 0) return null;
        i = cursor.at;
        value = String(v);
        break;
      }
      case 1:
        if (i + 8 > end) return null;
        value = String(new DataView(bytes.buffer, bytes.byteOffset + i, 8).getBigUint64(0, true));
        i += 8;
        break;
      case 5:
        if (i + 4 > end) return null;
        value = String(new DataView(bytes.buffer, bytes.byteOffset + i, 4).getUint32(0, true));
        i += 4;
        break;
      case 2: {
        const length = varint(bytes, i, end, cursor);
        if (length < 0 || cursor.at + length > end) return null;
        const from = cursor.at;
        i = from + length;
        value = renderBytes(bytes, from, i, depth);
        break;
      }
      default:
        return null;
    }
    out += out.length === 1 ? `${field}:${value}` : ` ${field}:${value}`;
  }
  return `${out}}`;
}

/** A string when it reads as text (a leading control byte favours a nested message: tags 1-3 are \n, \x12, \x1a). */
function renderBytes(bytes: Uint8Array, start: number, end: number, depth: number): string {
  const printable = isPrintableUtf8(bytes, start, end);
  if (printable && (start === end || bytes[start]! >= 0x20)) return JSON.stringify(utf8(bytes, start, end));
  if (depth + 1 < MAX_DEPTH) {
    const nested = renderMessage(bytes, start, end, depth + 1);
    if (nested !== null) return nested;
  }
  return printable ? JSON.stringify(utf8(bytes, start, end)) : `<${end - start} bytes>`;
}

/** Text worth showing as a string: no control bytes other than tab/newline, and valid UTF-8. */
function isPrintableUtf8(bytes: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const b = bytes[i]!;
    if (b < 0x80) {
      if (b < 0x20 && b !== 9 && b !== 10 && b !== 13) return false;
      if (b === 0x7f) return false;
      i++;
      continue;
    }
    const extra = b >= 0xf0 && b < 0xf5 ? 3 : b >= 0xe0 ? 2 : b >= 0xc2 && b < 0xe0 ? 1 : -1;
    if (extra < 0 || i + extra >= end) return false;
    for (let k = 1; k <= extra; k++) if (((bytes[i + k] ?? 0) & 0xc0) !== 0x80) return false;
    i += extra + 1;
  }
  return true;
}

/** Unsigned varint at bytes[i] (exact up to 2^53); sets cursor.at past it; -1 when invalid. */
function varint(bytes: Uint8Array, i: number, end: number, cursor: { at: number }): number {
  let value = 0;
  let scale = 1;
  for (let p = i; p < end && p < i + 10; p++) {
    const b = bytes[p]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      cursor.at = p + 1;
      return value;
    }
    scale *= 128;
  }
  return -1;
}
