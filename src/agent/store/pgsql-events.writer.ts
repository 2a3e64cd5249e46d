import { pgsqlEvents } from '../../tables/pgsql-events.ts';
import type { EpochClock } from '../clock.ts';
import type { PgsqlRecord } from '../protocols/pgsql/pgsql-record.ts';
import type { ConnectionInfo } from '../protocols/protocol.ts';
import { columnIndex, ProtocolRowWriter } from './row-writer.ts';
import type { TableStore } from './table-store.ts';

const C = Object.freeze({
  reqCmd: columnIndex(pgsqlEvents, 'req_cmd'),
  req: columnIndex(pgsqlEvents, 'req'),
  resp: columnIndex(pgsqlEvents, 'resp'),
  latency: columnIndex(pgsqlEvents, 'latency'),
});

/** Writes PostgreSQL records as pgsql_events rows (time_ = when the response completed). */
export class PgsqlEventsWriter {
  private readonly rows: ProtocolRowWriter;

  constructor(store: TableStore, clock: EpochClock, agentId: number) {
    this.rows = new ProtocolRowWriter(store, clock, agentId, pgsqlEvents);
  }

  write(record: PgsqlRecord, conn: ConnectionInfo): void {
    const w = this.rows.beginFor(record.respEndNs, conn);
    w.setString(C.reqCmd, record.reqCmd);
    w.setString(C.req, record.req);
    w.setString(C.resp, record.resp);
    w.setInt(C.latency, record.latencyNs);
    this.rows.commit();
  }
}
