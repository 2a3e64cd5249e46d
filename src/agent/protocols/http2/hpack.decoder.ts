// HPACK header block decoder (RFC 7541) for one direction of one connection.
// The dynamic table is the per-direction state: blocks must be decoded in
// stream order and none may be skipped, so any lost byte of a header block
// makes the decoder (and the connection's later headers) unusable; the
// session stops on the first error. Nothing here throws on input.

import { latin1 } from '../../bytes.ts';
import { huffmanDecode } from './hpack-huffman.ts';

/** RFC 7541 Appendix A, index 1..61. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];
const STATIC_COUNT = STATIC_TABLE.length;
/** RFC 7541 §4.1: an entry's size is its name and value lengths plus 32. */
const ENTRY_OVERHEAD = 32;

/** Why a block could not be decoded (a counter reason). */
export type HpackError =
  | 'hpack_index' // index 0 or past the tables
  | 'hpack_integer' // integer overflow or truncated
  | 'hpack_string' // string runs past the block
  | 'hpack_huffman' // invalid Huffman string
  | 'hpack_table_size' // size update over the allowed maximum, or after a field
  | 'hpack_too_many_fields';

/** Decoded fields of one block, reused from block to block (valid until the next decode). */
export class HeaderList {
  readonly names: string[] = [];
  readonly values: string[] = [];
  count = 0;
  /** Sum of name and value lengths, for memory accounting. */
  textLength = 0;

  push(name: string, value: string): void {
    this.names[this.count] = name;
    this.values[this.count] = value;
    this.count++;
    this.textLength += name.length + value.length;
  }

  /** Value of the first field named `name` (lowercase, as HTTP/2 requires), or undefined. */
  get(name: string): string | undefined {
    for (let k = 0; k < this.count; k++) if (this.names[k] === name) return this.values[k];
    return undefined;
  }
}

export interface HpackDecoderOptions {
  /**
   * Largest dynamic table a size update may ask for. The peer's
   * SETTINGS_HEADER_TABLE_SIZE is the real bound; a passive observer only
   * needs a cap that bounds memory (updates over it are errors).
   */
  readonly maxTableBytes: number;
  /** Bound of one decoded string (name or value), bytes. */
  readonly maxStringBytes: number;
  /** Fields per block. */
  readonly maxFields: number;
}

export const DEFAULTS: Readonly<HpackDecoderOptions> = Object.freeze({
  maxTableBytes: 64 * 1024,
  maxStringBytes: 64 * 1024,
  maxFields: 512,
});

/**
 * Output buffer of Huffman decoding, shared by all decoders: decoding is
 * synchronous and the result is copied into a string at once, so one buffer
 * serves every connection (grown to the largest string seen, ≤ 8/5 of maxStringBytes).
 */
let scratchBuffer = new Uint8Array(4096);

function huffmanScratch(inputBytes: number): Uint8Array {
  const need = Math.ceil(inputBytes * 8 / 5) + 1;
  if (scratchBuffer.length < need) scratchBuffer = new Uint8Array(Math.max(need, scratchBuffer.length * 2));
  return scratchBuffer;
}

/** The protocol's initial dynamic table size (RFC 9113 §6.5.2 SETTINGS_HEADER_TABLE_SIZE default). */
const INITIAL_TABLE_BYTES = 4096;

export class HpackDecoder {
  private readonly options: HpackDecoderOptions;
  /** Dynamic table as a ring: newest at `head`, older entries follow (mod capacity). */
  private names: string[] = [];
  private values: string[] = [];
  private head = 0;
  private length = 0;
  private tableBytes = 0;
  private maxTableBytes = INITIAL_TABLE_BYTES;
  /** Position just past the integer or string read last. */
  private cursor = 0;
  private stringError: HpackError = 'hpack_string';

  constructor(options: HpackDecoderOptions = DEFAULTS) {
    this.options = options;
  }

  /** Bytes held by the dynamic table (RFC sizes; a close estimate of string memory). */
  get dynamicTableBytes(): number {
    return this.tableBytes;
  }

  /** Entries in the dynamic table. */
  get dynamicTableLength(): number {
    return this.length;
  }

  /** Current maximum size of the dynamic table. */
  get dynamicTableLimit(): number {
    return this.maxTableBytes;
  }

  /** Entry `index` (1-based over static then dynamic), for tests. */
  entry(index: number): [string, string] | undefined {
    if (index >= 1 && index <= STATIC_COUNT) return [...STATIC_TABLE[index - 1]!];
    const d = index - STATIC_COUNT - 1;
    if (d < 0 || d >= this.length) return undefined;
    const at = (this.head + d) % this.names.length;
    return [this.names[at]!, this.values[at]!];
  }

  /**
   * Decodes one complete header block `bytes[start, end)` into `out`
   * (cleared first). Returns null on success; on error the table may hold a
   * partial update and must not be used again.
   */
  decode(bytes: Uint8Array, start: number, end: number, out: HeaderList): HpackError | null {
    out.count = 0;
    out.textLength = 0;
    let i = start;
    let sizeUpdateAllowed = true;
    while (i < end) {
      const b = bytes[i]!;
      if (b >= 0x80) {
        // Indexed field (§6.1).
        const index = this.integer(bytes, i, end, 7);
        if (index < 0) return 'hpack_integer';
        i = this.cursor;
        if (!this.emitIndexed(index, out)) return 'hpack_index';
      } else if (b >= 0x40 || b < 0x20) {
        // Literal with incremental indexing (§6.2.1, 6-bit index), without indexing or never indexed (4-bit).
        const indexing = b >= 0x40;
        const index = this.integer(bytes, i, end, indexing ? 6 : 4);
        if (index < 0) return 'hpack_integer';
        i = this.cursor;
        let name: string;
        if (index === 0) {
          const s = this.string(bytes, i, end);
          if (s === null) return this.stringError;
          name = s;
          i = this.cursor;
        } else {
          const known = this.nameAt(index);
          if (known === undefined) return 'hpack_index';
          name = known;
        }
        const value = this.string(bytes, i, end);
        if (value === null) return this.stringError;
        i = this.cursor;
        if (out.count >= this.options.maxFields) return 'hpack_too_many_fields';
        out.push(name, value);
        if (indexing) this.insert(name, value);
      } else {
        // Dynamic table size update (§6.3): only before the first field of a block.
        const size = this.integer(bytes, i, end, 5);
        if (size < 0) return 'hpack_integer';
        i = this.cursor;
        if (!sizeUpdateAllowed || size > this.options.maxTableBytes) return 'hpack_table_size';
        this.maxTableBytes = size;
        this.evictTo(size);
        continue;
      }
      sizeUpdateAllowed = false;
    }
    return null;
  }

  /** Prefix integer (§5.1) at bytes[i]; sets cursor to the byte after it. -1 when invalid. */
  private integer(bytes: Uint8Array, i: number, end: number, prefixBits: number): number {
    const mask = (1 << prefixBits) - 1;
    let value = bytes[i]! & mask;
    let p = i + 1;
    if (value === mask) {
      let shift = 0;
      for (;;) {
        if (p >= end || shift > 21) return -1; // more than 2^28: no HPACK quantity is that large here
        const b = bytes[p++]!;
        value += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if (b < 0x80) break;
      }
    }
    this.cursor = p;
    return value;
  }

  /** String literal (§5.2) at bytes[i]; sets cursor past it. Null on error (reason in stringError). */
  private string(bytes: Uint8Array, i: number, end: number): string | null {
    const length = i < end ? this.integer(bytes, i, end, 7) : -1;
    if (length < 0) return this.stringFailed(i < end ? 'hpack_integer' : 'hpack_string');
    const from = this.cursor;
    const to = from + length;
    if (to > end || length > this.options.maxStringBytes) return this.stringFailed('hpack_string');
    this.cursor = to;
    if (bytes[i]! < 0x80) return latin1(bytes, from, to);
    // Huffman output is at most 8/5 of the input; the shared scratch is sized for maxStringBytes of input.
    const scratch = huffmanScratch(length);
    const n = huffmanDecode(bytes, from, to, scratch);
    if (n < 0) return this.stringFailed('hpack_huffman');
    return latin1(scratch, 0, n);
  }

  private stringFailed(reason: HpackError): null {
    this.stringError = reason;
    return null;
  }

  private nameAt(index: number): string | undefined {
    if (index <= STATIC_COUNT) return index >= 1 ? STATIC_TABLE[index - 1]![0] : undefined;
    const d = index - STATIC_COUNT - 1;
    if (d >= this.length) return undefined;
    return this.names[(this.head + d) % this.names.length];
  }

  private emitIndexed(index: number, out: HeaderList): boolean {
    if (out.count >= this.options.maxFields) return false;
    if (index <= STATIC_COUNT) {
      if (index < 1) return false;
      const e = STATIC_TABLE[index - 1]!;
      out.push(e[0], e[1]);
      return true;
    }
    const d = index - STATIC_COUNT - 1;
    if (d >= this.length) return false;
    const at = (this.head + d) % this.names.length;
    out.push(this.names[at]!, this.values[at]!);
    return true;
  }

  /** §4.4: evict until the new entry fits; an entry larger than the table empties it and is not added. */
  private insert(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (size > this.maxTableBytes) {
      this.evictTo(0);
      return;
    }
    this.evictTo(this.maxTableBytes - size);
    if (this.length === this.names.length) this.grow();
    const capacity = this.names.length;
    this.head = (this.head - 1 + capacity) % capacity;
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.length++;
    this.tableBytes += size;
  }

  private evictTo(bytes: number): void {
    const capacity = this.names.length;
    while (this.tableBytes > bytes && this.length > 0) {
      const at = (this.head + this.length - 1) % capacity;
      this.tableBytes -= this.names[at]!.length + this.values[at]!.length + ENTRY_OVERHEAD;
      this.names[at] = '';
      this.values[at] = '';
      this.length--;
    }
  }

  /** Double the ring, from empty on first use (entry count is bounded by maxTableBytes / 32). */
  private grow(): void {
    const capacity = this.names.length;
    const names = new Array<string>(Math.max(16, capacity * 2)).fill('');
    const values = new Array<string>(Math.max(16, capacity * 2)).fill('');
    for (let k = 0; k < this.length; k++) {
      names[k] = this.names[(this.head + k) % capacity]!;
      values[k] = this.values[(this.head + k) % capacity]!;
    }
    this.names = names;
    this.values = values;
    this.head = 0;
  }
}
