// DNS over UDP: pairs query and response datagrams. There is no connection,
// so a pair is identified by (pid, local port, peer address, peer port, txid): a
// client sends the query to the peer and reads the answer from it; a server
// reads the query from the peer and answers it from the same port. The
// query's direction gives the trace role (sent: client, received: server).
//
// Bounds: at most maxPending queries wait for their response; the oldest is
// dropped beyond it, and queries older than timeoutNs are dropped on tick(),
// both counted (`pending_overflow.dns`, `unmatched_request.dns`). Datagrams
// that do not parse are counted (`parse_error.dns.<reason>`), never thrown.

import type { DgramEvent } from '../../bpf/events.ts';
import { Direction, TraceRole } from '../../bpf/events.ts';
import type { Counters } from '../../conn/counters.ts';
import type { ConnectionInfo, ProtocolSinks } from '../protocol.ts';
import { emitDns } from './dns-session.ts';
import type { DnsMessage } from './dns.parser.ts';
import { createDnsMessage, parseDnsMessage } from './dns.parser.ts';

export interface DnsDatagramOptions {
  readonly sinks: ProtocolSinks;
  readonly counters: Counters;
  readonly maxPending?: number;
  readonly timeoutNs?: number;
}

export const DEFAULTS = Object.freeze({
  maxPending: 4096,
  /** Resolvers retry after 1–5 s; a response later than this is not paired. */
  timeoutNs: 10_000_000_000,
});

interface PendingQuery {
  readonly msg: DnsMessage;
  readonly event: Pick<DgramEvent, 'timestampNs' | 'pid' | 'fd' | 'processStartNs' | 'cgroupId' | 'direction' | 'family' | 'localAddr' | 'localPort' | 'remoteAddr' | 'remotePort'>;
}

export class DnsDatagramPairer {
  private readonly sinks: ProtocolSinks;
  private readonly counters: Counters;
  private readonly maxPending: number;
  private readonly timeoutNs: number;
  /** Insertion order is arrival order: the first entries are the oldest. */
  private readonly pending = new Map<number, PendingQuery>();
  /** Datagrams seen since the last tick (a field: the hot path must not hash strings). */
  private dgramsSeen = 0;

  constructor(options: DnsDatagramOptions) {
    this.sinks = options.sinks;
    this.counters = options.counters;
    this.maxPending = options.maxPending ?? DEFAULTS.maxPending;
    this.timeoutNs = options.timeoutNs ?? DEFAULTS.timeoutNs;
  }

  /** Queries waiting for their response. */
  get size(): number {
    return this.pending.size;
  }

  onDgram(event: DgramEvent): void {
    const counters = this.counters;
    this.dgramsSeen++;
    const msg = createDnsMessage();
    const error = parseDnsMessage(event.data, 0, event.data.byteLength, msg);
    if (error !== null) {
      counters.inc(`parse_error.dns.${error === 'truncated' && event.data.byteLength < event.length ? 'capture_truncated' : error}`);
      return;
    }
    // Ports and txid make a number (48 bits, no string to hash); pid and peer address are checked on a hit.
    const key = (event.localPort * 0x10000 + event.remotePort) * 0x10000 + msg.txid;
    if (msg.qr === 0) {
      const earlier = this.pending.get(key);
      if (earlier !== undefined) {
        // A retransmission (the latest try is the one the answer will answer), or another socket's query.
        counters.inc(sameEndpoint(earlier.event, event) ? 'retransmitted_query.dns' : 'pending_collision.dns');
        this.pending.delete(key);
      }
      this.pending.set(key, {
        msg,
        event: {
          timestampNs: event.timestampNs, pid: event.pid, fd: event.fd, processStartNs: event.processStartNs,
          cgroupId: event.cgroupId, direction: event.direction, family: event.family,
          localAddr: event.localAddr, localPort: event.localPort, remoteAddr: event.remoteAddr, remotePort: event.remotePort,
        },
      });
      if (this.pending.size > this.maxPending) {
        this.pending.delete(this.pending.keys().next().value!);
        counters.inc('pending_overflow.dns');
      }
      return;
    }
    const query = this.pending.get(key);
    if (query === undefined || query.event.direction === event.direction || !sameEndpoint(query.event, event)) {
      counters.inc('unmatched_response.dns');
      return;
    }
    this.pending.delete(key);
    const q = query.event;
    const conn: ConnectionInfo = {
      connId: 0,
      pid: q.pid,
      fd: q.fd,
      processStartNs: q.processStartNs,
      role: q.direction === Direction.Egress ? TraceRole.Client : TraceRole.Server,
      family: q.family,
      localAddr: q.localAddr,
      localPort: q.localPort,
      remoteAddr: q.remoteAddr,
      remotePort: q.remotePort,
      cgroupId: q.cgroupId,
      openedNs: q.timestampNs,
    };
    emitDns({ sinks: this.sinks, counters }, conn, query.msg, msg, q.timestampNs, event.timestampNs);
  }

  /** Drops queries older than the timeout (CLOCK_MONOTONIC ns) and publishes `dgrams.dns`. Call it about once a second. */
  tick(nowNs: number): void {
    if (this.dgramsSeen > 0) {
      this.counters.inc('dgrams.dns', this.dgramsSeen);
      this.dgramsSeen = 0;
    }
    for (const [key, query] of this.pending) {
      if (nowNs - query.event.timestampNs < this.timeoutNs) break;
      this.pending.delete(key);
      this.counters.inc('unmatched_request.dns');
    }
  }
}

function sameEndpoint(a: PendingQuery['event'], b: DgramEvent): boolean {
  return a.pid === b.pid && a.remoteAddr === b.remoteAddr;
}
