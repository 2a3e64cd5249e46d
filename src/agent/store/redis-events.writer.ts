import { redisEvents } from '../../tables/redis-events.ts';
import type { EpochClock } from '../clock.ts';
import type { ConnectionInfo } from '../protocols/protocol.ts';
import type { RedisRecord } from '../protocols/redis/redis-record.ts';
import { columnIndex, ProtocolRowWriter } from './row-writer.ts';
import type { TableStore } from './table-store.ts';

const C = Object.freeze({
  reqCmd: columnIndex(redisEvents, 'req_cmd'),
  reqArgs: columnIndex(redisEvents, 'req_args'),
  resp: columnIndex(redisEvents, 'resp'),
  latency: columnIndex(redisEvents, 'latency'),
});

/** Writes Redis records as redis_events rows (time_ = when the reply completed). */
export class RedisEventsWriter {
  private readonly rows: ProtocolRowWriter;

  constructor(store: TableStore, clock: EpochClock, agentId: number) {
    this.rows = new ProtocolRowWriter(store, clock, agentId, redisEvents);
  }

  write(record: RedisRecord, conn: ConnectionInfo): void {
    const w = this.rows.beginFor(record.respEndNs, conn);
    w.setString(C.reqCmd, record.reqCmd);
    w.setString(C.reqArgs, record.reqArgs);
    w.setString(C.resp, record.resp);
    w.setInt(C.latency, record.latencyNs);
    this.rows.commit();
  }
}
