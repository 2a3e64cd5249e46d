// DNS over TCP (RFC 1035 §4.2.2, RFC 7766): each message is preceded by a
// two-byte length. A framer per side reassembles messages (bounded by the
// 65535-byte maximum), and responses pair with pending queries by
// transaction id (RFC 7766 allows out-of-order answers on one connection).

import type { ConnectionInfo, ProtocolSession, ProtocolSpec, SessionEnv } from '../protocol.ts';
import { InferResult, StreamSide } from '../protocol.ts';
import type { DnsRecord } from './dns-record.ts';
import type { DnsMessage } from './dns.parser.ts';
import { createDnsMessage, DNS_HEADER_BYTES, DNS_MIN_QUERY_BYTES, parseDnsMessage, plausibleDnsHeader } from './dns.parser.ts';

/** Largest message a two-byte length can announce. */
const MAX_MESSAGE_BYTES = 0xffff;

interface PendingQuery {
  readonly msg: DnsMessage;
  readonly startNs: number;
}

/** Reassembles length-prefixed messages of one direction. */
class DnsFramer {
  private lengthBytes = 0;
  private lengthHi = 0;
  private want = 0;
  private buffer = new Uint8Array(512);
  private have = 0;
  private startNs = 0;
  /** A gap hit this side: bytes are skipped until the stream ends (no way to find the next frame). */
  lost = false;

  private readonly onFrame: (bytes: Uint8Array, length: number, startNs: number, endNs: number) => void;

  constructor(onFrame: (bytes: Uint8Array, length: number, startNs: number, endNs: number) => void) {
    this.onFrame = onFrame;
  }

  retainedBytes(): number {
    return this.buffer.length;
  }

  push(bytes: Uint8Array, start: number, end: number, timestampNs: number): void {
    let i = start;
    while (i < end && !this.lost) {
      if (this.lengthBytes < 2) {
        if (this.lengthBytes === 0) {
          this.lengthHi = bytes[i]!;
          this.startNs = timestampNs;
        } else {
          this.want = (this.lengthHi << 8) | bytes[i]!;
          this.have = 0;
          if (this.want > this.buffer.length) this.buffer = new Uint8Array(Math.min(MAX_MESSAGE_BYTES, Math.max(this.want, this.buffer.length * 2)));
        }
        this.lengthBytes++;
        i++;
        if (this.lengthBytes === 2 && this.want === 0) this.lengthBytes = 0;
        continue;
      }
      const n = Math.min(end - i, this.want - this.have);
      this.buffer.set(bytes.subarray(i, i + n), this.have);
      this.have += n;
      i += n;
      if (this.have === this.want) {
        this.lengthBytes = 0;
        this.onFrame(this.buffer, this.want, this.startNs, timestampNs);
      }
    }
  }

  gap(): void {
    this.lost = true;
    this.buffer = new Uint8Array(0);
  }

  /** True when a frame was started but not finished. */
  get partial(): boolean {
    return this.lengthBytes > 0;
  }
}

export class DnsTcpSession implements ProtocolSession {
  private readonly conn: ConnectionInfo;
  private readonly env: SessionEnv;
  private readonly framers: readonly [DnsFramer, DnsFramer];
  private readonly pending: PendingQuery[] = [];

  constructor(conn: ConnectionInfo, env: SessionEnv) {
    this.conn = conn;
    this.env = env;
    this.framers = [
      new DnsFramer((b, n, s, e) => this.onMessage(StreamSide.Request, b, n, s, e)),
      new DnsFramer((b, n, s, e) => this.onMessage(StreamSide.Response, b, n, s, e)),
    ];
  }

  get stopped(): boolean {
    return this.framers[0].lost && this.framers[1].lost;
  }

  retainedBytes(): number {
    return this.framers[0].retainedBytes() + this.framers[1].retainedBytes() + this.pending.length * 256;
  }

  data(side: StreamSide, bytes: Uint8Array, start: number, end: number, timestampNs: number): void {
    this.framers[side].push(bytes, start, end, timestampNs);
  }

  gap(side: StreamSide, _lengthBytes: number, _timestampNs: number): void {
    if (!this.framers[side].lost) this.env.counters.inc('gap_stop.dns');
    this.framers[side].gap();
  }

  close(_timestampNs: number): void {
    const counters = this.env.counters;
    if (this.framers[0].partial || this.framers[1].partial) counters.inc('truncated_message.dns');
    if (this.pending.length > 0) counters.inc('unmatched_request.dns', this.pending.length);
    this.pending.length = 0;
  }

  private onMessage(side: StreamSide, bytes: Uint8Array, length: number, startNs: number, endNs: number): void {
    const counters = this.env.counters;
    const msg = createDnsMessage();
    const error = parseDnsMessage(bytes, 0, length, msg);
    if (error !== null) {
      counters.inc(`parse_error.dns.${error}`);
      return;
    }
    if ((side === StreamSide.Request) !== (msg.qr === 0)) {
      counters.inc('parse_error.dns.wrong_direction');
      return;
    }
    if (side === StreamSide.Request) {
      this.pending.push({ msg, startNs });
      if (this.pending.length > this.env.limits.maxPendingMessages) {
        this.pending.shift();
        counters.inc('pending_overflow.dns');
      }
      return;
    }
    const at = this.pending.findIndex((q) => q.msg.txid === msg.txid);
    if (at < 0) {
      counters.inc('unmatched_response.dns');
      return;
    }
    const query = this.pending.splice(at, 1)[0]!;
    emitDns(this.env, this.conn, query.msg, msg, query.startNs, endNs);
  }
}

/** Hands one pair to the sink (shared by the TCP session and the UDP pairer). */
export function emitDns(env: Pick<SessionEnv, 'sinks' | 'counters'>, conn: ConnectionInfo, query: DnsMessage, response: DnsMessage, reqStartNs: number, respEndNs: number): void {
  env.counters.inc('records.dns');
  const onDns = env.sinks.onDns;
  if (onDns === undefined) return;
  const record: DnsRecord = {
    reqHeader: query.headerJson,
    reqBody: query.bodyJson,
    respHeader: response.headerJson,
    respBody: response.bodyJson,
    reqStartNs,
    respEndNs,
    latencyNs: respEndNs - reqStartNs,
  };
  try {
    onDns.call(env.sinks, record, conn);
  } catch {
    env.counters.inc('sink_error.dns');
  }
}

/**
 * Inference (twin: the DNS case of infer_protocol in
 * native/bpf/socket_trace.bpf.c): a length prefix of 17..255 bytes (a
 * query), then the header of a standard query. Only the query side is
 * inferred: a TLS ClientHello can pass the checks a response would.
 */
export function inferDnsTcp(bytes: Uint8Array, start: number, end: number): InferResult {
  const available = end - start;
  // Queries are short: a length of 17..255 (the kernel checks the same two bytes).
  if (available >= 1 && bytes[start] !== 0) return InferResult.NoMatch;
  if (available >= 2 && bytes[start + 1]! < DNS_MIN_QUERY_BYTES) return InferResult.NoMatch;
  if (available < 2 + DNS_HEADER_BYTES) return InferResult.NeedMore;
  const length = (bytes[start]! << 8) | bytes[start + 1]!;
  const flagsHi = bytes[start + 4]!;
  if ((flagsHi & 0xf8) !== 0 || !plausibleDnsHeader(bytes, start + 2, length)) return InferResult.NoMatch;
  return InferResult.Request;
}

export const dnsTcpProtocol: ProtocolSpec = Object.freeze({
  name: 'dns',
  maxInferBytes: 2 + DNS_HEADER_BYTES,
  infer: inferDnsTcp,
  createSession: (conn: ConnectionInfo, env: SessionEnv): ProtocolSession => new DnsTcpSession(conn, env),
});
