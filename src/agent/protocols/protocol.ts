// The seam between the connection tracker and application-protocol parsers.
// The tracker reassembles each direction by position and hands contiguous
// bytes to one ProtocolSession per connection; which session is chosen by
// asking each ProtocolSpec of the registry to infer the protocol from the
// first bytes of the stream. HTTP/1 is the only entry today; pgsql, mysql,
// redis, dns and http2 add a spec (and a sink method) without tracker changes.

import type { ConnOpenEvent } from '../bpf/events.ts';
import type { Counters } from '../conn/counters.ts';
import type { HttpExchange } from './http1/http-exchange.ts';
import type { MysqlRecord } from './mysql/mysql-record.ts';
import type { PgsqlRecord } from './pgsql/pgsql-record.ts';
import type { DnsRecord } from './dns/dns-record.ts';
import type { RedisRecord } from './redis/redis-record.ts';

/** Request side (client → server bytes) or response side (server → client). */
export const StreamSide = { Request: 0, Response: 1 } as const;
export type StreamSide = (typeof StreamSide)[keyof typeof StreamSide];

/** What a spec concludes from the first bytes of one direction. */
export const InferResult = {
  /** Not this protocol. */
  NoMatch: 0,
  /** Consistent so far; call again with more bytes. */
  NeedMore: 1,
  /** These bytes start a request (the direction is the request side). */
  Request: 2,
  /** These bytes start a response (the direction is the response side). */
  Response: 3,
} as const;
export type InferResult = (typeof InferResult)[keyof typeof InferResult];

/**
 * Immutable facts about one traced connection, shared by all its records:
 * what its open event said (role Unknown at open is replaced by the role
 * inferred from the traffic), and when it opened (CLOCK_MONOTONIC ns).
 */
export interface ConnectionInfo extends Omit<ConnOpenEvent, 'timestampNs'> {
  readonly openedNs: number;
  /** The connection's data is TLS plaintext from the TLS library (rows get encrypted = true). */
  readonly encrypted?: boolean;
}

/**
 * Where sessions deliver records. One optional method per record kind; the
 * tracker calls them synchronously from onData/onClose/tick. A sink that
 * throws is counted (`sink_error`) and does not stop parsing.
 */
export interface ProtocolSinks {
  /** `exchange` is a fresh object the sink may keep. */
  onHttp?(exchange: HttpExchange, conn: ConnectionInfo): void;
  /** `record` is a fresh object the sink may keep. */
  onPgsql?(record: PgsqlRecord, conn: ConnectionInfo): void;
  onMysql?(record: MysqlRecord, conn: ConnectionInfo): void;
  onRedis?(record: RedisRecord, conn: ConnectionInfo): void;
  /** DNS over TCP from sessions, over UDP from the datagram pairer (conn.connId 0). */
  onDns?(record: DnsRecord, conn: ConnectionInfo): void;
}

/** Limits handed to every session. */
export interface SessionLimits {
  /** Body bytes kept as text per message; the decoded size is always counted. */
  readonly maxBodyBytes: number;
  /** Bound of one message head (start line + headers) or trailer block. */
  readonly maxHeaderBytes: number;
  /** Messages waiting for their partner, per connection (each side). */
  readonly maxPendingMessages: number;
  /** Bytes retained by messages waiting for their partner, per connection. */
  readonly maxPendingBytes: number;
}

export interface SessionEnv {
  readonly sinks: ProtocolSinks;
  readonly counters: Counters;
  readonly limits: SessionLimits;
}

/**
 * Parses both sides of one connection. Bytes arrive in stream order per side
 * (`bytes[start, end)` is a view valid only during the call); the two sides
 * interleave in ring-buffer order, which is not causal order. Must not throw.
 */
export interface ProtocolSession {
  data(side: StreamSide, bytes: Uint8Array, start: number, end: number, timestampNs: number): void;
  /** `lengthBytes` bytes of this side were not captured. */
  gap(side: StreamSide, lengthBytes: number, timestampNs: number): void;
  /** The connection closed (or was expired): flush what is complete, count the rest. */
  close(timestampNs: number): void;
  /** Bytes the session holds (partial messages, messages awaiting their partner), for the tracker's memory bound. */
  retainedBytes(): number;
  /** True once no further bytes will be parsed (e.g. after 101 Switching Protocols). */
  readonly stopped: boolean;
}

export interface ProtocolSpec {
  /** Stable name, used in counters (`records.<name>`, `protocol.<name>`). */
  readonly name: string;
  /** Bytes infer() may ask for before it must decide. */
  readonly maxInferBytes: number;
  /** Look at the first bytes of one direction (`bytes[start, end)`). Pure. */
  infer(bytes: Uint8Array, start: number, end: number): InferResult;
  createSession(conn: ConnectionInfo, env: SessionEnv): ProtocolSession;
}

/** Ordered: the first spec that matches wins. */
export type ProtocolRegistry = readonly ProtocolSpec[];
