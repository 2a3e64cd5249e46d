// DNS message builders for the parser, session and pairer specs and the
// bench (not part of the runtime). Names are written uncompressed except
// where an answer repeats the question's name (a pointer to offset 12), as
// real servers do.

export const DnsType = { A: 1, NS: 2, CNAME: 5, PTR: 12, MX: 15, TXT: 16, AAAA: 28 } as const;

export interface DnsAnswer {
  readonly name: string;
  readonly type: number;
  /** A/AAAA: the address bytes; CNAME/NS/PTR: the target name; else raw rdata. */
  readonly data: Uint8Array | string;
}

function encodeName(name: string): number[] {
  const out: number[] = [];
  for (const label of name.split('.').filter(Boolean)) {
    out.push(label.length, ...Buffer.from(label, 'latin1'));
  }
  out.push(0);
  return out;
}

function u16(n: number): number[] {
  return [(n >> 8) & 0xff, n & 0xff];
}

export interface DnsMessageOptions {
  readonly txid: number;
  readonly name: string;
  readonly type: number;
  /** Response only. */
  readonly answers?: readonly DnsAnswer[];
  readonly rcode?: number;
  readonly response?: boolean;
  readonly flags?: number;
}

/** A query (recursion desired) or, with `response`, a response with answers (pointer to the question's name when equal). */
export function dnsMessage(options: DnsMessageOptions): Uint8Array {
  const response = options.response ?? options.answers !== undefined;
  const answers = options.answers ?? [];
  const flags = options.flags ?? ((response ? 0x8180 : 0x0100) | (options.rcode ?? 0));
  const bytes: number[] = [...u16(options.txid), ...u16(flags), ...u16(1), ...u16(answers.length), 0, 0, 0, 0];
  bytes.push(...encodeName(options.name), ...u16(options.type), ...u16(1));
  for (const answer of answers) {
    bytes.push(...(answer.name === options.name ? [0xc0, 12] : encodeName(answer.name)));
    const rdata = typeof answer.data === 'string' ? encodeName(answer.data) : [...answer.data];
    bytes.push(...u16(answer.type), ...u16(1), 0, 0, 0x0e, 0x10, ...u16(rdata.length), ...rdata);
  }
  return Uint8Array.from(bytes);
}

/** The two-byte length prefix of DNS over TCP. */
export function tcpFrame(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(message.length + 2);
  out[0] = message.length >> 8;
  out[1] = message.length & 0xff;
  out.set(message, 2);
  return out;
}
