// Byte ↔ string conversion on the hot path (parsers, the table store).
// Node's Buffer has native latin1/utf8 slicers and writers that take (start, end) on any Uint8Array; they cost one native call
// and no intermediate view, which is why parsers decode a whole header block
// once and slice strings from it. Their names are undocumented but have been
// stable since Node 0.x; if they ever vanish the fallback wraps a Buffer.

type SliceFn = (this: Uint8Array, start: number, end: number) => string;
type WriteFn = (this: Uint8Array, value: string, offset: number, length: number) => number;
const bufferProto = Buffer.prototype as unknown as { latin1Slice?: SliceFn; utf8Slice?: SliceFn; utf8Write?: WriteFn };
const nativeUtf8Write = typeof bufferProto.utf8Write === 'function' ? bufferProto.utf8Write : undefined;
const encoder = new TextEncoder();
const nativeLatin1 = typeof bufferProto.latin1Slice === 'function' ? bufferProto.latin1Slice : undefined;
const nativeUtf8 = typeof bufferProto.utf8Slice === 'function' ? bufferProto.utf8Slice : undefined;

/** `bytes[start, end)` as Latin-1 (one char per byte): header names, values, start lines. */
export function latin1(bytes: Uint8Array, start: number, end: number): string {
  if (start >= end) return '';
  if (nativeLatin1 !== undefined) return nativeLatin1.call(bytes, start, end);
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1');
}

/** `bytes[start, end)` as UTF-8, invalid sequences replaced by U+FFFD: bodies. */
export function utf8(bytes: Uint8Array, start: number, end: number): string {
  if (start >= end) return '';
  if (nativeUtf8 !== undefined) return nativeUtf8.call(bytes, start, end);
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('utf8');
}

/**
 * Writes `value` as UTF-8 into `target` at `offset`; returns the bytes
 * written. The caller guarantees room for value.length * 3 bytes. About three
 * times faster than TextEncoder.encodeInto for the short strings of a row.
 */
export function writeUtf8(value: string, target: Uint8Array, offset: number): number {
  if (value.length === 0) return 0;
  if (nativeUtf8Write !== undefined) return nativeUtf8Write.call(target, value, offset, target.length - offset);
  return encoder.encodeInto(value, target.subarray(offset)).written;
}
