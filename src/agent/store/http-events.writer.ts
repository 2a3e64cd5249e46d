import { httpEvents } from '../../tables/http-events.ts';
import type { EpochClock } from '../clock.ts';
import type { HttpExchange } from '../protocols/http1/http-exchange.ts';
import type { ConnectionInfo } from '../protocols/protocol.ts';
import { columnIndex, ProtocolRowWriter } from './row-writer.ts';
import type { TableStore } from './table-store.ts';

const C = Object.freeze({
  majorVersion: columnIndex(httpEvents, 'major_version'),
  minorVersion: columnIndex(httpEvents, 'minor_version'),
  contentType: columnIndex(httpEvents, 'content_type'),
  reqHeaders: columnIndex(httpEvents, 'req_headers'),
  reqMethod: columnIndex(httpEvents, 'req_method'),
  reqPath: columnIndex(httpEvents, 'req_path'),
  reqBody: columnIndex(httpEvents, 'req_body'),
  reqBodySize: columnIndex(httpEvents, 'req_body_size'),
  respHeaders: columnIndex(httpEvents, 'resp_headers'),
  respStatus: columnIndex(httpEvents, 'resp_status'),
  respMessage: columnIndex(httpEvents, 'resp_message'),
  respBody: columnIndex(httpEvents, 'resp_body'),
  respBodySize: columnIndex(httpEvents, 'resp_body_size'),
  latency: columnIndex(httpEvents, 'latency'),
});

/** Writes HTTP exchanges as http_events rows (time_ = when the response completed). */
export class HttpEventsWriter {
  private readonly rows: ProtocolRowWriter;

  constructor(store: TableStore, clock: EpochClock, agentId: number) {
    this.rows = new ProtocolRowWriter(store, clock, agentId, httpEvents);
  }

  write(exchange: HttpExchange, conn: ConnectionInfo): void {
    const w = this.rows.beginFor(exchange.respEndNs, conn);
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
    this.rows.commit();
  }
}
