import { dnsEvents } from '../../tables/dns-events.ts';
import type { EpochClock } from '../clock.ts';
import type { DnsRecord } from '../protocols/dns/dns-record.ts';
import type { ConnectionInfo } from '../protocols/protocol.ts';
import { columnIndex, ProtocolRowWriter } from './row-writer.ts';
import type { TableStore } from './table-store.ts';

const C = Object.freeze({
  reqHeader: columnIndex(dnsEvents, 'req_header'),
  reqBody: columnIndex(dnsEvents, 'req_body'),
  respHeader: columnIndex(dnsEvents, 'resp_header'),
  respBody: columnIndex(dnsEvents, 'resp_body'),
  latency: columnIndex(dnsEvents, 'latency'),
});

/** Writes DNS records as dns_events rows (time_ = when the response was seen). */
export class DnsEventsWriter {
  private readonly rows: ProtocolRowWriter;

  constructor(store: TableStore, clock: EpochClock, agentId: number) {
    this.rows = new ProtocolRowWriter(store, clock, agentId, dnsEvents);
  }

  write(record: DnsRecord, conn: ConnectionInfo): void {
    const w = this.rows.beginFor(record.respEndNs, conn);
    w.setString(C.reqHeader, record.reqHeader);
    w.setString(C.reqBody, record.reqBody);
    w.setString(C.respHeader, record.respHeader);
    w.setString(C.respBody, record.respBody);
    w.setInt(C.latency, record.latencyNs);
    this.rows.commit();
  }
}
