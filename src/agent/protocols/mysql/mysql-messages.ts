// Decoding of the MySQL/MariaDB client/server protocol pieces the session
// needs (https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html).
// Readers are bounds-checked against the kept packet: a cut or hostile packet
// yields a shorter string or -1, never a throw.

import { latin1, utf8 } from '../../bytes.ts';

export const Command = {
  Quit: 0x01, InitDb: 0x02, Query: 0x03, FieldList: 0x04, Statistics: 0x09, Ping: 0x0e,
  StmtPrepare: 0x16, StmtExecute: 0x17, StmtSendLongData: 0x18, StmtClose: 0x19, StmtReset: 0x1a,
} as const;

export const Capability = {
  Protocol41: 0x200,
  Ssl: 0x800,
  SessionTrack: 1 << 23,
  DeprecateEof: 1 << 24,
  QueryAttributes: 1 << 27,
} as const;

/** SERVER_MORE_RESULTS_EXISTS in OK/EOF status flags. */
export const MORE_RESULTS_EXISTS = 0x0008;
/** A packet this long continues in the next one. */
export const MAX_PACKET_PAYLOAD = 0xffffff;

export function readUint16(bytes: Uint8Array, at: number): number {
  return bytes[at]! | (bytes[at + 1]! << 8);
}

export function readUint32(bytes: Uint8Array, at: number): number {
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

/**
 * A cursor over one kept packet. `lenenc()` returns -1 when the value does
 * not fit the packet (or needs more than 53 bits).
 */
export class PacketReader {
  bytes: Uint8Array = new Uint8Array(0);
  at = 0;
  end = 0;

  reset(bytes: Uint8Array, start: number, end: number): this {
    this.bytes = bytes;
    this.at = start;
    this.end = end;
    return this;
  }

  get left(): number {
    return this.end - this.at;
  }

  lenenc(): number {
    if (this.at >= this.end) return -1;
    const first = this.bytes[this.at++]!;
    if (first < 0xfb) return first;
    const size = first === 0xfc ? 2 : first === 0xfd ? 3 : first === 0xfe ? 8 : -1;
    if (size < 0 || this.left < size) return -1;
    let value = 0;
    for (let k = size - 1; k >= 0; k--) value = value * 256 + this.bytes[this.at + k]!;
    this.at += size;
    return Number.isSafeInteger(value) ? value : -1;
  }

  /** A length-encoded string, cut at `maxBytes`; null when malformed. */
  lenencString(maxBytes: number): string | null {
    const length = this.lenenc();
    if (length < 0) return null;
    const from = this.at;
    const to = Math.min(this.end, from + length);
    this.at = from + length;
    return utf8(this.bytes, from, Math.min(to, from + maxBytes));
  }
}

/** ERR packet body (after 0xFF) as "ERROR <code> (<SQLSTATE>): <message>". */
export function renderError(bytes: Uint8Array, start: number, end: number, protocol41: boolean, maxBytes: number): string {
  if (end - start < 3) return 'ERROR';
  const code = readUint16(bytes, start + 1);
  let at = start + 3;
  let state = '';
  if (protocol41 && bytes[at] === 0x23 && end - at >= 6) { // '#' + 5-character SQLSTATE
    state = ` (${latin1(bytes, at + 1, at + 6)})`;
    at += 6;
  }
  return `ERROR ${code}${state}: ${utf8(bytes, at, Math.min(end, at + maxBytes))}`;
}

const TypeCode = {
  Decimal: 0x00, Tiny: 0x01, Short: 0x02, Long: 0x03, Float: 0x04, Double: 0x05, Null: 0x06, Timestamp: 0x07,
  LongLong: 0x08, Int24: 0x09, Date: 0x0a, Time: 0x0b, DateTime: 0x0c, Year: 0x0d,
} as const;
const scratch = new DataView(new ArrayBuffer(8));
const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));

/**
 * One COM_STMT_EXECUTE parameter value of `type` (low byte: MYSQL_TYPE_*,
 * 0x8000: unsigned) at the reader's cursor, as text; null when malformed.
 */
export function readBinaryValue(reader: PacketReader, type: number, maxBytes: number): string | null {
  const bytes = reader.bytes;
  const at = reader.at;
  const unsigned = (type & 0x8000) !== 0;
  const fixed = (size: number): boolean => {
    if (reader.left < size) return false;
    reader.at += size;
    return true;
  };
  switch (type & 0xff) {
    case TypeCode.Null: return 'NULL';
    case TypeCode.Tiny:
      if (!fixed(1)) return null;
      return String(unsigned ? bytes[at]! : (bytes[at]! << 24) >> 24);
    case TypeCode.Short: case TypeCode.Year:
      if (!fixed(2)) return null;
      return String(unsigned ? readUint16(bytes, at) : (readUint16(bytes, at) << 16) >> 16);
    case TypeCode.Long: case TypeCode.Int24:
      if (!fixed(4)) return null;
      return String(unsigned ? readUint32(bytes, at) : readUint32(bytes, at) | 0);
    case TypeCode.LongLong:
      if (!fixed(8)) return null;
      for (let k = 0; k < 8; k++) scratch.setUint8(k, bytes[at + k]!);
      return (unsigned ? scratch.getBigUint64(0, true) : scratch.getBigInt64(0, true)).toString();
    case TypeCode.Float:
      if (!fixed(4)) return null;
      for (let k = 0; k < 4; k++) scratch.setUint8(k, bytes[at + k]!);
      return String(scratch.getFloat32(0, true));
    case TypeCode.Double:
      if (!fixed(8)) return null;
      for (let k = 0; k < 8; k++) scratch.setUint8(k, bytes[at + k]!);
      return String(scratch.getFloat64(0, true));
    case TypeCode.Date: case TypeCode.DateTime: case TypeCode.Timestamp: {
      if (!fixed(1)) return null;
      const length = bytes[at]!;
      if (!fixed(length)) return null;
      const p = at + 1;
      if (length === 0) return '0000-00-00 00:00:00';
      if (length < 4) return null;
      let text = `${readUint16(bytes, p)}-${pad2(bytes[p + 2]!)}-${pad2(bytes[p + 3]!)}`;
      if (length >= 7) text += ` ${pad2(bytes[p + 4]!)}:${pad2(bytes[p + 5]!)}:${pad2(bytes[p + 6]!)}`;
      if (length >= 11) text += `.${String(readUint32(bytes, p + 7)).padStart(6, '0')}`;
      return text;
    }
    case TypeCode.Time: {
      if (!fixed(1)) return null;
      const length = bytes[at]!;
      if (!fixed(length)) return null;
      const p = at + 1;
      if (length === 0) return '00:00:00';
      if (length < 8) return null;
      const hours = readUint32(bytes, p + 1) * 24 + bytes[p + 5]!;
      let text = `${bytes[p] ? '-' : ''}${pad2(hours)}:${pad2(bytes[p + 6]!)}:${pad2(bytes[p + 7]!)}`;
      if (length >= 12) text += `.${String(readUint32(bytes, p + 8)).padStart(6, '0')}`;
      return text;
    }
    default: // strings, decimals, blobs, JSON, BIT, …: length-encoded
      return reader.lenencString(maxBytes);
  }
}
