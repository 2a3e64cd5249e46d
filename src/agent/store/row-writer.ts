// What every table writer repeats, in one place: column positions resolved
// once from the table's declaration, time_ from a monotonic timestamp, the
// upid of a process, and for protocol tables the shared connection columns
// (src/tables/common-columns.ts) from the connection a record came from.
import { connectionColumns } from '../../tables/common-columns.ts';
import type { TableSpec } from '../../tables/schema.ts';
import type { EpochClock } from '../clock.ts';
import type { ConnectionInfo } from '../protocols/protocol.ts';
import { UpidCache } from '../upid.ts';
import type { BatchBuilder } from './batch-builder.ts';
import type { TableStore } from './table-store.ts';

/** Position of `name` in a declared table, resolved once at module load by the writers. */
export function columnIndex(table: TableSpec, name: string): number {
  const index = table.columns.findIndex((c) => c.name === name);
  if (index < 0) throw new Error(`resolve ${table.name} column ${name}: not declared`);
  return index;
}

/** Rows of one table: begin() writes time_ and upid (columns 0 and 1) and returns the builder for the rest. */
export class RowWriter {
  readonly table: TableSpec;
  private readonly store: TableStore;
  private readonly clock: EpochClock;
  private readonly upids: UpidCache;
  private readonly time = { hi: 0, lo: 0 };

  constructor(store: TableStore, clock: EpochClock, agentId: number, table: TableSpec) {
    if (table.columns[0]?.name !== 'time_' || table.columns[1]?.name !== 'upid') {
      throw new Error(`write ${table.name}: its first columns must be time_ and upid`);
    }
    this.table = table;
    this.store = store;
    this.clock = clock;
    this.upids = new UpidCache(agentId);
  }

  /** Starts a row of process `pid` (started at `processStartNs`) at monotonic time `timestampNs`. */
  begin(timestampNs: number, pid: number, processStartNs: number): BatchBuilder {
    const w = this.store.writer(this.table.name);
    this.clock.toEpochParts(timestampNs, this.time);
    w.setInt64Parts(0, this.time.hi, this.time.lo);
    w.setString(1, this.upids.get(pid, processStartNs));
    return w;
  }

  commit(): void {
    this.store.commit(this.table.name);
  }
}

/** Rows of a protocol table: begin() also writes the connection columns from the record's connection. */
export class ProtocolRowWriter extends RowWriter {
  constructor(store: TableStore, clock: EpochClock, agentId: number, table: TableSpec) {
    super(store, clock, agentId, table);
    connectionColumns.forEach((column, i) => {
      if (table.columns[i]?.name !== column.name) throw new Error(`write ${table.name}: column ${i} must be ${column.name} (connectionColumns first)`);
    });
  }

  /**
   * Starts a row of `conn` at monotonic time `timestampNs`; the table's own
   * columns follow connectionColumns.length. `encrypted` defaults to whether
   * the connection's bytes came from the TLS library.
   */
  beginFor(timestampNs: number, conn: ConnectionInfo, encrypted = conn.encrypted === true): BatchBuilder {
    const w = this.begin(timestampNs, conn.pid, conn.processStartNs);
    w.setString(2, conn.remoteAddr);
    w.setInt(3, conn.remotePort);
    w.setString(4, conn.localAddr);
    w.setInt(5, conn.localPort);
    w.setInt(6, conn.role);
    w.setBool(7, encrypted);
    return w;
  }
}
