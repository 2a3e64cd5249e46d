// Decoding of the PostgreSQL frontend/backend protocol 3.0 message bodies the
// session needs (https://www.postgresql.org/docs/current/protocol-message-formats.html).
// Every reader is bounds-checked against the kept body: a cut or hostile
// message yields a shorter string, never a throw.

import { utf8 } from '../../bytes.ts';

/** Protocol 3.0 in a StartupMessage. */
export const PROTOCOL_3_0 = 0x00030000;
/** Request codes sent in place of a protocol version. */
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;
/** Largest message the server accepts (PQ_LARGE_MESSAGE_LIMIT is 1 GB - 1). */
export const MAX_MESSAGE_BYTES = 0x3fffffff;

/** Tags a frontend may send after startup. */
export const REQUEST_TAGS = new Uint8Array(256);
for (const c of 'QPBDESHCXpdcfF') REQUEST_TAGS[c.charCodeAt(0)] = 1;
/** Tags a backend may send. */
export const RESPONSE_TAGS = new Uint8Array(256);
for (const c of 'RSKZTDCEN123ntsIAGHWdcVv') RESPONSE_TAGS[c.charCodeAt(0)] = 1;

export function readInt32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}

export function readInt16(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 8) | bytes[at + 1]!) << 16 >> 16;
}

/** Reads NUL-terminated strings from a kept body; `at` advances past the NUL (or to `end`). */
export class CStringReader {
  bytes: Uint8Array = new Uint8Array(0);
  at = 0;
  end = 0;

  reset(bytes: Uint8Array, start: number, end: number): this {
    this.bytes = bytes;
    this.at = start;
    this.end = end;
    return this;
  }

  /** The next string, cut at `maxBytes` (the cursor still skips all of it). */
  next(maxBytes: number): string {
    const bytes = this.bytes;
    const from = this.at;
    let i = from;
    while (i < this.end && bytes[i] !== 0) i++;
    this.at = i < this.end ? i + 1 : i;
    return utf8(bytes, from, Math.min(i, from + maxBytes));
  }

  skip(): void {
    const bytes = this.bytes;
    let i = this.at;
    while (i < this.end && bytes[i] !== 0) i++;
    this.at = i < this.end ? i + 1 : i;
  }
}

/** Longest byte range a RepeatMemo remembers. */
const MEMO_BYTES = 256;

/**
 * The text last rendered from a short byte range, for messages that repeat
 * verbatim on a connection (CommandComplete "SELECT 1", the RowDescription
 * of the same statement): while the same bytes come again the same string is
 * reused, with no native decode and no new string per message, and the row
 * writer sees an identical value (it copies the bytes of the row before).
 */
export class RepeatMemo {
  private readonly kept = new Uint8Array(MEMO_BYTES);
  /** Length of the kept bytes; -1 when nothing is remembered. */
  private length = -1;
  private text = '';

  /** The remembered text when `bytes[start, end)` are the remembered bytes, else undefined. */
  get(bytes: Uint8Array, start: number, end: number): string | undefined {
    const n = end - start;
    if (n !== this.length) return undefined;
    const kept = this.kept;
    for (let k = 0; k < n; k++) if (kept[k] !== bytes[start + k]) return undefined;
    return this.text;
  }

  /** Remembers `text` as the rendering of `bytes[start, end)` (longer ranges are not remembered); returns `text`. */
  set(bytes: Uint8Array, start: number, end: number, text: string): string {
    const n = end - start;
    if (n > MEMO_BYTES) {
      this.length = -1;
      return text;
    }
    const kept = this.kept;
    for (let k = 0; k < n; k++) kept[k] = bytes[start + k]!;
    this.length = n;
    this.text = text;
    return text;
  }
}

/** Shared by the renderers below (never re-entered: parsing is synchronous). */
const fieldReader = new CStringReader();

/** Backend ErrorResponse as "SEVERITY: message (SQLSTATE)". */
export function renderError(bytes: Uint8Array, start: number, end: number, maxBytes: number): string {
  const reader = fieldReader.reset(bytes, start, end);
  let severity = '';
  let localizedSeverity = '';
  let code = '';
  let message = '';
  while (reader.at < end) {
    const field = bytes[reader.at]!;
    if (field === 0) break;
    reader.at++;
    switch (field) {
      case 0x56: severity = reader.next(32); break; // 'V': never localized
      case 0x53: localizedSeverity = reader.next(32); break; // 'S'
      case 0x43: code = reader.next(16); break; // 'C'
      case 0x4d: message = reader.next(maxBytes); break; // 'M'
      default: reader.skip();
    }
  }
  return `${severity || localizedSeverity || 'ERROR'}: ${message}${code ? ` (${code})` : ''}`;
}

/** Column names of a RowDescription, as " [a, b]" (empty for no columns). */
export function renderColumns(bytes: Uint8Array, start: number, end: number, maxBytes: number): string {
  if (end - start < 2) return '';
  const count = readInt16(bytes, start);
  const reader = fieldReader.reset(bytes, start + 2, end);
  let out = '';
  for (let k = 0; k < count && reader.at < end && out.length < maxBytes; k++) {
    out += (k === 0 ? '' : ', ') + reader.next(maxBytes);
    reader.at += 18; // table oid, column number, type oid, size, modifier, format
  }
  return count > 0 ? ` [${out}]` : '';
}

const OID_BOOL = 16;
const OID_INT8 = 20;
const OID_INT2 = 21;
const OID_INT4 = 23;
const OID_OID = 26;
const OID_FLOAT4 = 700;
const OID_FLOAT8 = 701;
const TEXT_OIDS = new Set([18, 19, 25, 114, 705, 1042, 1043, 3802]);
const scratch = new DataView(new ArrayBuffer(8));

/** One Bind parameter as text: text format as sent, binary decoded by type when known, else hex. */
export function renderParameter(bytes: Uint8Array, start: number, length: number, binary: boolean, oid: number, maxBytes: number): string {
  if (!binary || TEXT_OIDS.has(oid)) return utf8(bytes, start, start + Math.min(length, maxBytes));
  if (oid === OID_BOOL && length === 1) return bytes[start] ? 'true' : 'false';
  if ((oid === OID_INT4 || oid === OID_OID) && length === 4) return String(oid === OID_OID ? readInt32(bytes, start) >>> 0 : readInt32(bytes, start));
  if (oid === OID_INT2 && length === 2) return String(readInt16(bytes, start));
  if (oid === OID_INT8 && length === 8) {
    for (let k = 0; k < 8; k++) scratch.setUint8(k, bytes[start + k]!);
    return scratch.getBigInt64(0).toString();
  }
  if ((oid === OID_FLOAT8 && length === 8) || (oid === OID_FLOAT4 && length === 4)) {
    for (let k = 0; k < length; k++) scratch.setUint8(k, bytes[start + k]!);
    return String(length === 8 ? scratch.getFloat64(0) : scratch.getFloat32(0));
  }
  let hex = '\\x';
  const n = Math.min(length, maxBytes >> 1);
  for (let k = 0; k < n; k++) hex += bytes[start + k]!.toString(16).padStart(2, '0');
  return hex;
}
