import { mysqlEvents } from '../../tables/mysql-events.ts';
import type { EpochClock } from '../clock.ts';
import type { MysqlRecord } from '../protocols/mysql/mysql-record.ts';
import type { ConnectionInfo } from '../protocols/protocol.ts';
import { columnIndex, ProtocolRowWriter } from './row-writer.ts';
import type { TableStore } from './table-store.ts';

const C = Object.freeze({
  reqCmd: columnIndex(mysqlEvents, 'req_cmd'),
  reqBody: columnIndex(mysqlEvents, 'req_body'),
  respStatus: columnIndex(mysqlEvents, 'resp_status'),
  respBody: columnIndex(mysqlEvents, 'resp_body'),
  latency: columnIndex(mysqlEvents, 'latency'),
});

/** Writes MySQL records as mysql_events rows (time_ = when the response completed). */
export class MysqlEventsWriter {
  private readonly rows: ProtocolRowWriter;

  constructor(store: TableStore, clock: EpochClock, agentId: number) {
    this.rows = new ProtocolRowWriter(store, clock, agentId, mysqlEvents);
  }

  write(record: MysqlRecord, conn: ConnectionInfo): void {
    const w = this.rows.beginFor(record.respEndNs, conn);
    w.setInt(C.reqCmd, record.reqCmd);
    w.setString(C.reqBody, record.reqBody);
    w.setInt(C.respStatus, record.respStatus);
    w.setString(C.respBody, record.respBody);
    w.setInt(C.latency, record.latencyNs);
    this.rows.commit();
  }
}
