import { httpEvents } from '../../tables/http-events.ts';
import type { EpochClock } from '../clock.ts';
import type { HttpExchange } from '../protocols/http1/http-exchange.ts';
import type { ConnectionInfo } from '../protocols/protocol.ts';
import { UpidCache } from '../upid.ts';
import type { TableStore } from './table-store.ts';

/** Column positions in http_events, resolved once from the declaration. */
function columnIndex(name: string): number {
  const index = httpEvents.columns.findIndex((c) => c.name === name);
  if (index < 0) throw new Error(`resolve http_events column ${name}: not declared`);
  return index;
}

const C = Object.freeze({
  time: columnIndex('time_'), upid: columnIndex('upid'),
  remoteAddr: columnIndex('remote_addr'), remotePort: columnIndex('remote_port'),
  localAddr: columnIndex('local_addr'), localPort: columnIndex('local_port'),
  traceRole: columnIndex('trace_role'), encrypted: columnIndex('encrypted'),
  majorVersion: columnIndex('major_version'), minorVersion: columnIndex('minor_version'),
  contentType: columnIndex('content_type'),
  reqHeaders: columnIndex('req_headers'), reqMethod: columnIndex('req_method'), reqPath: columnIndex('req_path'),
  reqBody: columnIndex('req_body'), reqBodySize: columnIndex('req_body_size'),
  respHeaders: columnIndex('resp_headers'), respStatus: columnIndex('resp_status'), respMessage: columnIndex('resp_message'),
  respBody: columnIndex('resp_body'), respBodySize: columnIndex('resp_body_size'), latency: columnIndex('latency'),
});

/** Writes HTTP exchanges as http_events rows (time_ = when the response completed). */
export class HttpEventsWriter {
  private readonly store: TableStore;
  private readonly clock: EpochClock;
  private readonly upids: UpidCache;
  private readonly time = { hi: 0, lo: 0 };

  constructor(store: TableStore, clock: EpochClock, agentId: number) {
    this.store = store;
    this.clock = clock;
    this.upids = new UpidCache(agentId);
  }

  write(exchange: HttpExchange, conn: ConnectionInfo): void {
    const w = this.store.writer(httpEvents.name);
    this.clock.toEpochParts(exchange.respEndNs, this.time);
    w.setInt64Parts(C.time, this.time.hi, this.time.lo);
    w.setString(C.upid, this.upids.get(conn.pid, conn.processStartNs));
    w.setString(C.remoteAddr, conn.remoteAddr);
    w.setInt(C.remotePort, conn.remotePort);
    w.setString(C.localAddr, conn.localAddr);
    w.setInt(C.localPort, conn.localPort);
    w.setInt(C.traceRole, conn.role);
    w.setBool(C.encrypted, false);
    w.setInt(C.majorVersion, exchange.majorVersion);
    w.setInt(C.minorVersion, exchange.minorVersion);
    w.setInt(C.contentType, exchange.contentType);
    w.setString(C.reqHeaders, exchange.reqHeaders);
    w.setString(C.reqMethod, exchange.reqMethod);
    w.setString(C.reqPath, exchange.reqPath);
    w.setString(C.reqBody, exchange.reqBody);
    w.setInt(C.reqBodySize, exchange.reqBodySize);
    w.setString(C.respHeaders, exchange.respHeaders);
    w.setInt(C.respStatus, exchange.respStatus);
    w.setString(C.respMessage, exchange.respMessage);
    w.setString(C.respBody, exchange.respBody);
    w.setInt(C.respBodySize, exchange.respBodySize);
    w.setInt(C.latency, exchange.latencyNs);
    this.store.commit(httpEvents.name);
  }
}
