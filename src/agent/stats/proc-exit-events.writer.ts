import { procExitEvents } from '../../tables/proc-exit-events.ts';
import type { ProcExitEvent } from '../bpf/events.ts';
import type { EpochClock } from '../clock.ts';
import { columnIndex, RowWriter } from '../store/row-writer.ts';
import type { TableStore } from '../store/table-store.ts';

const C = Object.freeze({
  exitCode: columnIndex(procExitEvents, 'exit_code'),
  signal: columnIndex(procExitEvents, 'signal'),
  comm: columnIndex(procExitEvents, 'comm'),
});

/** Writes kernel process-exit records as proc_exit_events rows (time_ = when the last thread exited). */
export class ProcExitEventsWriter {
  private readonly rows: RowWriter;

  constructor(store: TableStore, clock: EpochClock, agentId: number) {
    this.rows = new RowWriter(store, clock, agentId, procExitEvents);
  }

  write(event: ProcExitEvent): void {
    const w = this.rows.begin(event.timestampNs, event.pid, event.processStartNs);
    w.setInt(C.exitCode, event.exitStatus);
    w.setInt(C.signal, event.signal);
    w.setString(C.comm, event.comm);
    this.rows.commit();
  }
}
