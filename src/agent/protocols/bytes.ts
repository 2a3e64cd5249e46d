// Byte → string decoding for parsers. Node's Buffer has native latin1/utf8
// slicers that take (start, end) on any Uint8Array; they cost one native call
// and no intermediate view, which is why parsers decode a whole header block
// once and slice strings from it. Their names are undocumented but have been
// stable since Node 0.x; if they ever vanish the fallback wraps a Buffer.

type SliceFn = (this: Uint8Array, start: number, end: number) => string;
const bufferProto = Buffer.prototype as unknown as { latin1Slice?: SliceFn; utf8Slice?: SliceFn };
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
