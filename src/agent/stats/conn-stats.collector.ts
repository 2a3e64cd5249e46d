// conn_stats: cumulative connection counts and bytes per (process, remote
// endpoint, role), Pixie's shape. Inputs:
// - CONN_OPEN / CONN_CLOSE records, for every inet TCP connection whatever
//   its protocol (close carries the final byte counts);
// - a periodic scan of the kernel connection table (SocketTracer.scanConnections)
//   for the counters of connections still open. The kernel counts bytes of
//   every tracked connection in exit_data, traced protocol or not, so this
//   costs nothing per syscall (docs/adr/0016-conn-stats-and-process-statistics.md).
//
// report() writes one row per endpoint that changed since the last report; a
// new endpoint also gets a row at once, at its first open, with zero bytes.
// Bounds: maxConnections followed at once and maxEndpoints aggregates; what
// does not fit is counted (stats()), never silently lost. Endpoints whose
// connections are all closed are forgotten after idleEndpointNs without change.
//
// Collector namespace scoping (`admit`, CollectorScope.admitProcess): a
// connection of a process out of scope is not followed (it takes no slot),
// and an endpoint whose process went out of scope since (a new plan) writes
// no more rows. The scope counts each row not written.

import { connStats } from '../../tables/conn-stats.ts';
import type { ConnCloseEvent, ConnOpenEvent } from '../bpf/events.ts';
import type { EpochClock } from '../clock.ts';
import { Counters } from '../conn/counters.ts';
import type { TableStore } from '../store/table-store.ts';
import { UpidCache } from '../upid.ts';
import { columnIndex } from '../store/row-writer.ts';

export const DEFAULTS = Object.freeze({
  /** The kernel table's default capacity (SocketTracer DEFAULTS.maxConnections). */
  maxConnections: 65536,
  maxEndpoints: 16384,
  idleEndpointNs: 300_000_000_000,
});

export interface ConnStatsOptions {
  readonly store: TableStore;
  readonly clock: EpochClock;
  readonly agentId: number;
  readonly maxConnections?: number;
  readonly maxEndpoints?: number;
  readonly idleEndpointNs?: number;
  /** Whether rows of a process are stored (the Collector's namespaces); counts its own drops. Default: every process. */
  readonly admit?: (pid: number, processStartNs: number) => boolean;
}

/** Endpoints examined per eviction attempt, so a full table costs O(1) per open. */
const EVICTION_PROBES = 64;

/** WISP_PROTO_* (socket_trace.h) to Pixie's traffic protocol numbers, as conn_stats.protocol reports them. */
const PIXIE_PROTOCOL: ReadonlyMap<number, number> = new Map([
  [1, 1], // HTTP/1.x → kProtocolHTTP
  [2, 5], // PostgreSQL → kProtocolPGSQL
  [3, 3], // MySQL → kProtocolMySQL
  [4, 7], // Redis → kProtocolRedis
  [5, 6], // DNS → kProtocolDNS
  [6, 2], // HTTP/2 → kProtocolHTTP2
]);

const C = Object.freeze({
  time: columnIndex(connStats, 'time_'), upid: columnIndex(connStats, 'upid'),
  remoteAddr: columnIndex(connStats, 'remote_addr'), remotePort: columnIndex(connStats, 'remote_port'),
  traceRole: columnIndex(connStats, 'trace_role'), addrFamily: columnIndex(connStats, 'addr_family'),
  protocol: columnIndex(connStats, 'protocol'), ssl: columnIndex(connStats, 'ssl'),
  connOpen: columnIndex(connStats, 'conn_open'), connClose: columnIndex(connStats, 'conn_close'),
  connActive: columnIndex(connStats, 'conn_active'),
  bytesSent: columnIndex(connStats, 'bytes_sent'), bytesRecv: columnIndex(connStats, 'bytes_recv'),
});

/** One row's worth of cumulative counters. */
class Endpoint {
  readonly key: string;
  readonly upid: string;
  /** The process, for the scope's per-process verdict. */
  readonly pid: number;
  readonly processStartNs: number;
  readonly remoteAddr: string;
  readonly remotePort: number;
  readonly role: number;
  /** Pixie numbering: 1 IPv4, 2 IPv6. */
  readonly addrFamily: number;
  protocol = 0;
  connOpen = 0;
  connClose = 0;
  bytesSent = 0;
  bytesRecv = 0;
  changed = true;
  lastChangeNs: number;

  constructor(key: string, upid: string, open: ConnOpenEvent) {
    this.key = key;
    this.upid = upid;
    this.pid = open.pid;
    this.processStartNs = open.processStartNs;
    this.remoteAddr = open.remoteAddr;
    this.remotePort = open.remotePort;
    this.role = open.role;
    this.addrFamily = open.family === 4 ? 1 : 2;
    this.lastChangeNs = open.timestampNs;
  }
}

/** An open connection: the counters already added to its endpoint. */
interface FollowedConnection {
  readonly endpoint: Endpoint;
  bytesSent: number;
  bytesRecv: number;
}

export class ConnStatsCollector {
  readonly counters = new Counters();
  private readonly store: TableStore;
  private readonly clock: EpochClock;
  private readonly upids: UpidCache;
  private readonly maxConnections: number;
  private readonly maxEndpoints: number;
  private readonly idleEndpointNs: number;
  private readonly admit: (pid: number, processStartNs: number) => boolean;
  private readonly connections = new Map<number, FollowedConnection>();
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly time = { hi: 0, lo: 0 };
  /** Time the current scan's changes are stamped with (monotonic ns). */
  private scanNs = 0;

  constructor(options: ConnStatsOptions) {
    this.store = options.store;
    this.clock = options.clock;
    this.upids = new UpidCache(options.agentId);
    this.maxConnections = options.maxConnections ?? DEFAULTS.maxConnections;
    this.maxEndpoints = options.maxEndpoints ?? DEFAULTS.maxEndpoints;
    this.idleEndpointNs = options.idleEndpointNs ?? DEFAULTS.idleEndpointNs;
    this.admit = options.admit ?? (() => true);
  }

  onOpen(event: ConnOpenEvent): void {
    if (this.connections.has(event.connId)) {
      this.counters.inc('conn_stats_duplicate_open');
      return;
    }
    if (!this.admit(event.pid, event.processStartNs)) return;
    if (this.connections.size >= this.maxConnections) {
      this.counters.inc('conn_stats_dropped.connections_full');
      return;
    }
    const upid = this.upids.get(event.pid, event.processStartNs);
    const key = `${upid}|${event.remoteAddr}|${event.remotePort}|${event.role}`;
    let endpoint = this.endpoints.get(key);
    if (endpoint === undefined) {
      if (this.endpoints.size >= this.maxEndpoints && !this.evictIdleEndpoint()) {
        this.counters.inc('conn_stats_dropped.endpoints_full');
        return;
      }
      endpoint = new Endpoint(key, upid, event);
      this.endpoints.set(key, endpoint);
      // A first row with the counters at zero, stamped at the open: the
      // growth of the cumulative counters over any window that holds it
      // (max - min, as net_flow_graph.pxl computes) is then exact.
      endpoint.connOpen++;
      endpoint.changed = false;
      this.clock.toEpochParts(event.timestampNs, this.time);
      this.writeRow(endpoint);
    } else {
      endpoint.connOpen++;
      this.touch(endpoint, event.timestampNs);
    }
    this.connections.set(event.connId, { endpoint, bytesSent: 0, bytesRecv: 0 });
  }

  onClose(event: ConnCloseEvent): void {
    const conn = this.connections.get(event.connId);
    if (conn === undefined) return; // opened before the agent, or dropped at open (counted then)
    this.connections.delete(event.connId);
    this.apply(conn, event.bytesSent, event.bytesReceived, event.protocol ?? 0, event.timestampNs);
    conn.endpoint.connClose++;
    this.touch(conn.endpoint, event.timestampNs);
  }

  /**
   * The kernel's current counters of one open connection (a scan visitor).
   * Connections whose open record is still in the ring buffer are skipped:
   * the next scan or their close accounts for them.
   */
  readonly observe = (connId: number, bytesSent: number, bytesReceived: number, protocol: number): void => {
    const conn = this.connections.get(connId);
    if (conn === undefined) return;
    this.apply(conn, bytesSent, bytesReceived, protocol, this.scanNs);
  };

  /** Starts a scan at `nowNs` (monotonic): observe() calls that follow are stamped with it. */
  beginScan(nowNs: number): void {
    this.scanNs = nowNs;
  }

  /**
   * Writes one conn_stats row per endpoint changed since the last report,
   * stamped `nowNs` (monotonic), and forgets endpoints without open
   * connections that have not changed for idleEndpointNs. Returns the rows written.
   */
  report(nowNs: number): number {
    this.clock.toEpochParts(nowNs, this.time);
    let rows = 0;
    for (const endpoint of this.endpoints.values()) {
      if (!endpoint.changed) {
        if (endpoint.connOpen === endpoint.connClose && nowNs - endpoint.lastChangeNs >= this.idleEndpointNs) {
          this.endpoints.delete(endpoint.key);
        }
        continue;
      }
      endpoint.changed = false;
      if (!this.admit(endpoint.pid, endpoint.processStartNs)) continue;
      this.writeRow(endpoint);
      rows++;
    }
    return rows;
  }

  /** Gauges and drop counters for /metrics. */
  stats(): Record<string, number> {
    const out = this.counters.snapshot();
    out['conn_stats_connections'] = this.connections.size;
    out['conn_stats_endpoints'] = this.endpoints.size;
    return out;
  }

  private apply(conn: FollowedConnection, bytesSent: number, bytesRecv: number, protocol: number, nowNs: number): void {
    const endpoint = conn.endpoint;
    // Counters only grow; a smaller value is an older reading racing a newer one.
    const sent = bytesSent - conn.bytesSent;
    const recv = bytesRecv - conn.bytesRecv;
    if (sent > 0) {
      endpoint.bytesSent += sent;
      conn.bytesSent = bytesSent;
    }
    if (recv > 0) {
      endpoint.bytesRecv += recv;
      conn.bytesRecv = bytesRecv;
    }
    const pixie = PIXIE_PROTOCOL.get(protocol);
    if (pixie !== undefined) endpoint.protocol = pixie;
    if (sent > 0 || recv > 0) this.touch(endpoint, nowNs);
  }

  private touch(endpoint: Endpoint, nowNs: number): void {
    endpoint.changed = true;
    if (nowNs > endpoint.lastChangeNs) endpoint.lastChangeNs = nowNs;
  }

  /**
   * Forgets the oldest endpoint with no open connection and no unreported
   * change among the EVICTION_PROBES oldest; false if none (the caller drops).
   */
  private evictIdleEndpoint(): boolean {
    let probes = 0;
    for (const endpoint of this.endpoints.values()) {
      if (++probes > EVICTION_PROBES) return false;
      if (endpoint.connOpen === endpoint.connClose && !endpoint.changed) {
        this.endpoints.delete(endpoint.key);
        this.counters.inc('conn_stats_evicted_idle_endpoints');
        return true;
      }
    }
    return false;
  }

  private writeRow(e: Endpoint): void {
    const w = this.store.writer(connStats.name);
    w.setInt64Parts(C.time, this.time.hi, this.time.lo);
    w.setString(C.upid, e.upid);
    w.setString(C.remoteAddr, e.remoteAddr);
    w.setInt(C.remotePort, e.remotePort);
    w.setInt(C.traceRole, e.role);
    w.setInt(C.addrFamily, e.addrFamily);
    w.setInt(C.protocol, e.protocol);
    w.setBool(C.ssl, false);
    w.setInt(C.connOpen, e.connOpen);
    w.setInt(C.connClose, e.connClose);
    w.setInt(C.connActive, e.connOpen - e.connClose);
    w.setInt(C.bytesSent, e.bytesSent);
    w.setInt(C.bytesRecv, e.bytesRecv);
    this.store.commit(connStats.name);
  }
}
