// Frame and header-block builders for the HTTP/2 specs and the fuzz test
// (not part of the runtime). Header blocks use HPACK literals, with or without
// incremental indexing, never Huffman: the decoder's Huffman path is covered
// by the RFC 7541 examples.

import { CLIENT_PREFACE, FrameType } from './http2-frame.parser.ts';

export { CLIENT_PREFACE, FrameType };

export const Flag = { EndStream: 0x1, Ack: 0x1, EndHeaders: 0x4, Padded: 0x8, Priority: 0x20 } as const;

export function frame(type: number, flags: number, streamId: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(9 + payload.length);
  out[0] = (payload.length >> 16) & 0xff;
  out[1] = (payload.length >> 8) & 0xff;
  out[2] = payload.length & 0xff;
  out[3] = type;
  out[4] = flags;
  new DataView(out.buffer).setUint32(5, streamId & 0x7fffffff);
  out.set(payload, 9);
  return out;
}

export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function hpackInteger(value: number, prefixBits: number, firstByte: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [firstByte | value];
  const out = [firstByte | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

function hpackString(text: string): number[] {
  const bytes = Buffer.from(text, 'latin1');
  return [...hpackInteger(bytes.length, 7, 0), ...bytes];
}

/** A header block of literals with new names; `indexed` adds them to the dynamic table. */
export function headerBlock(fields: readonly (readonly [string, string])[], options: { indexed?: boolean } = {}): Uint8Array {
  const out: number[] = [];
  for (const [name, value] of fields) out.push(options.indexed ? 0x40 : 0x00, ...hpackString(name), ...hpackString(value));
  return Uint8Array.from(out);
}

/** An indexed field representation (RFC 7541 §6.1). */
export function indexedField(index: number): Uint8Array {
  return Uint8Array.from(hpackInteger(index, 7, 0x80));
}

/** A gRPC length-prefixed message. */
export function grpcMessage(payload: Uint8Array, compressed = false): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  out[0] = compressed ? 1 : 0;
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, 5);
  return out;
}

export const text = (value: string): Uint8Array => new TextEncoder().encode(value);
