import type { RecordBatch } from 'apache-arrow';
import type { TableSource } from '../../query/source.ts';

const ALL_START = 0n;
const ALL_END = (1n << 63n) - 1n;

/**
 * Which rows of a table a pipeline has read, by sealed batch. The store
 * seals every committed row into exactly one immutable record batch (a scan
 * seals the open one), so reading each batch once gives no gaps and no
 * duplicates whatever the order of time_ within and across batches — no
 * time watermark, no settle delay. Batches retention removed before they
 * were read are counted (expiredRows): with overflow "block" that is where
 * rows go when the destination is down for longer than the table keeps them.
 * A batch may be read in parts (a full queue admits only so many rows).
 */
export class TableCursor {
  readonly table: string;
  private readonly read = new WeakSet<RecordBatch>();
  /** Batches seen but not (fully) read yet, with the rows read of each (block policy, queue full). */
  private readonly unread = new Map<RecordBatch, number>();
  expiredRows = 0;

  constructor(table: string) {
    this.table = table;
  }

  /**
   * Batches not fully read yet, oldest first, each with the first row not
   * read. Accounts for unread rows that retention removed since the last call.
   */
  next(source: TableSource): Array<{ batch: RecordBatch; from: number }> {
    const batches = source.scan(this.table, ALL_START, ALL_END);
    const fresh: Array<{ batch: RecordBatch; from: number }> = [];
    const present = new Set<RecordBatch>();
    for (const batch of batches) {
      if (this.read.has(batch)) continue;
      fresh.push({ batch, from: this.unread.get(batch) ?? 0 });
      present.add(batch);
    }
    for (const [batch, from] of this.unread) {
      if (!present.has(batch)) {
        this.expiredRows += batch.numRows - from;
        this.unread.delete(batch);
      }
    }
    for (const { batch, from } of fresh) this.unread.set(batch, from);
    return fresh;
  }

  /** Rows [0, to) of `batch` have been read. */
  markRead(batch: RecordBatch, to: number = batch.numRows): void {
    if (to >= batch.numRows) {
      this.read.add(batch);
      this.unread.delete(batch);
    } else {
      this.unread.set(batch, to);
    }
  }
}
