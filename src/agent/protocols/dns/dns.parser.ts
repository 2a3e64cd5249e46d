// DNS message parsing (RFC 1035 §4) into Pixie's dns_events JSON: the header
// as {txid, qr, opcode, aa, tc, rd, ra, ad, cd, rcode, num_queries,
// num_answers, num_auth, num_addl}, a query's body as {"queries":[{name,
// type}]}, a response's as {"answers":[{name, type, addr|cname|…}]}.
//
// Works on one whole message (a UDP datagram, or a TCP frame without its
// length prefix). Every read is bounds-checked against the message; name
// compression pointers are followed at most MAX_POINTER_JUMPS times, so a
// hostile message costs bounded work. Nothing here throws: a malformed
// message yields an error reason.

import { formatAddress } from '../../bpf/records.ts';

/** Bytes of the fixed header. */
export const DNS_HEADER_BYTES = 12;
/** Header + the shortest question (root name, type, class). */
export const DNS_MIN_QUERY_BYTES = DNS_HEADER_BYTES + 5;
const MAX_NAME_CHARS = 255;
const MAX_POINTER_JUMPS = 32;
/** Questions / answers rendered per message; the header keeps the real counts. */
const MAX_QUESTIONS = 16;
const MAX_ANSWERS = 64;

const TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [1, 'A'], [2, 'NS'], [5, 'CNAME'], [6, 'SOA'], [12, 'PTR'], [15, 'MX'], [16, 'TXT'], [28, 'AAAA'],
  [33, 'SRV'], [35, 'NAPTR'], [39, 'DNAME'], [41, 'OPT'], [43, 'DS'], [46, 'RRSIG'], [47, 'NSEC'],
  [48, 'DNSKEY'], [64, 'SVCB'], [65, 'HTTPS'], [99, 'SPF'], [252, 'AXFR'], [255, 'ANY'], [257, 'CAA'],
]);

export function dnsTypeName(type: number): string {
  return TYPE_NAMES.get(type) ?? `TYPE${type}`;
}

/** A parsed message. One object per message: the pairing code keeps it. */
export interface DnsMessage {
  txid: number;
  /** 0 query, 1 response. */
  qr: number;
  opcode: number;
  rcode: number;
  headerJson: string;
  /** Queries: {"queries":[…]}; responses: {"answers":[…]}. */
  bodyJson: string;
}

/**
 * Cheap plausibility check on a header (used for inference): one question,
 * a defined opcode, the reserved Z bit clear, and for queries no answer or
 * authority records (except UPDATE). Reads only the header at
 * bytes[start, start + 12), which the caller guarantees; `messageBytes` is
 * the whole message's length.
 */
export function plausibleDnsHeader(bytes: Uint8Array, start: number, messageBytes: number): boolean {
  if (messageBytes < DNS_MIN_QUERY_BYTES || start + DNS_HEADER_BYTES > bytes.length) return false;
  const flagsHi = bytes[start + 2]!;
  const flagsLo = bytes[start + 3]!;
  const opcode = (flagsHi >> 3) & 0xf;
  if (opcode === 3 || opcode > 5) return false;
  if ((flagsLo & 0x40) !== 0) return false;
  if (bytes[start + 4] !== 0 || bytes[start + 5] !== 1) return false;
  const query = (flagsHi & 0x80) === 0;
  if (query && opcode !== 5) {
    if ((flagsLo & 0x0f) !== 0) return false;
    if (bytes[start + 6] !== 0 || bytes[start + 7] !== 0 || bytes[start + 8] !== 0 || bytes[start + 9] !== 0) return false;
  }
  return true;
}

/** Where readName leaves the offset after the name (in the original position, not after a pointer). */
let nameEnd = 0;

/**
 * Reads a (possibly compressed) name starting at `offset` of the message
 * bytes[start, end). Returns the dotted name ('.' for the root) or null if
 * malformed; sets nameEnd.
 */
function readName(bytes: Uint8Array, start: number, end: number, offset: number): string | null {
  let name = '';
  let at = offset;
  let jumps = 0;
  let after = -1;
  for (;;) {
    if (at >= end) return null;
    const len = bytes[at]!;
    if (len === 0) {
      at++;
      break;
    }
    const tag = len & 0xc0;
    if (tag === 0xc0) {
      if (at + 1 >= end || ++jumps > MAX_POINTER_JUMPS) return null;
      if (after < 0) after = at + 2;
      const target = start + (((len & 0x3f) << 8) | bytes[at + 1]!);
      if (target >= at) return null; // pointers go backwards (RFC 1035 §4.1.4)
      at = target;
      continue;
    }
    if (tag !== 0) return null;
    if (at + 1 + len > end) return null;
    if (name.length + len + 1 > MAX_NAME_CHARS) return null;
    if (name.length > 0) name += '.';
    for (let i = at + 1; i <= at + len; i++) name += String.fromCharCode(bytes[i]!);
    at += 1 + len;
  }
  nameEnd = after >= 0 ? after : at;
  return name.length === 0 ? '.' : name;
}

function u16(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!;
}

/**
 * Parses the message bytes[start, end) into `out`. Returns null on success,
 * else a short reason (`truncated`, `bad_name`, …) and `out` is partial.
 */
export function parseDnsMessage(bytes: Uint8Array, start: number, end: number, out: DnsMessage): string | null {
  if (end - start < DNS_HEADER_BYTES) return 'short_header';
  const txid = u16(bytes, start);
  const flagsHi = bytes[start + 2]!;
  const flagsLo = bytes[start + 3]!;
  const qd = u16(bytes, start + 4);
  const an = u16(bytes, start + 6);
  const ns = u16(bytes, start + 8);
  const ar = u16(bytes, start + 10);
  const qr = flagsHi >> 7;
  out.txid = txid;
  out.qr = qr;
  out.opcode = (flagsHi >> 3) & 0xf;
  out.rcode = flagsLo & 0xf;
  out.headerJson =
    `{"txid":${txid},"qr":${qr},"opcode":${out.opcode},"aa":${(flagsHi >> 2) & 1},"tc":${(flagsHi >> 1) & 1},` +
    `"rd":${flagsHi & 1},"ra":${flagsLo >> 7},"ad":${(flagsLo >> 5) & 1},"cd":${(flagsLo >> 4) & 1},"rcode":${out.rcode},` +
    `"num_queries":${qd},"num_answers":${an},"num_auth":${ns},"num_addl":${ar}}`;

  let at = start + DNS_HEADER_BYTES;
  let queries = '';
  for (let q = 0; q < qd; q++) {
    const name = readName(bytes, start, end, at);
    if (name === null) return 'bad_name';
    at = nameEnd;
    if (at + 4 > end) return 'truncated';
    if (q < MAX_QUESTIONS) {
      if (q > 0) queries += ',';
      queries += `{"name":${JSON.stringify(name)},"type":"${dnsTypeName(u16(bytes, at))}"}`;
    }
    at += 4;
  }
  if (qr === 0) {
    out.bodyJson = `{"queries":[${queries}]}`;
    return null;
  }
  let answers = '';
  for (let a = 0; a < an; a++) {
    const name = readName(bytes, start, end, at);
    if (name === null) return 'bad_name';
    at = nameEnd;
    if (at + 10 > end) return 'truncated';
    const type = u16(bytes, at);
    const rdLength = u16(bytes, at + 8);
    const rdata = at + 10;
    if (rdata + rdLength > end) return 'truncated';
    at = rdata + rdLength;
    if (a >= MAX_ANSWERS) continue;
    if (a > 0) answers += ',';
    const typeName = dnsTypeName(type);
    let value = '';
    if (type === 1 && rdLength === 4) {
      value = `,"addr":"${bytes[rdata]}.${bytes[rdata + 1]}.${bytes[rdata + 2]}.${bytes[rdata + 3]}"`;
    } else if (type === 28 && rdLength === 16) {
      value = `,"addr":"${formatAddress(bytes.subarray(rdata, rdata + 16), 10)}"`;
    } else if (type === 5 || type === 2 || type === 12 || type === 39) {
      const target = readName(bytes, start, rdata + rdLength, rdata);
      if (target === null) return 'bad_name';
      value = `,"${typeName.toLowerCase()}":${JSON.stringify(target)}`;
    }
    answers += `{"name":${JSON.stringify(name)},"type":"${typeName}"${value}}`;
  }
  out.bodyJson = `{"answers":[${answers}]}`;
  return null;
}

export function createDnsMessage(): DnsMessage {
  return { txid: 0, qr: 0, opcode: 0, rcode: 0, headerJson: '', bodyJson: '' };
}
