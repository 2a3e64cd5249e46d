import type { RecordBatch } from 'apache-arrow';
import type { TableSpec } from '../tables/schema.ts';

/**
 * What the query executor needs from a table store. The agent's TableStore
 * implements it; unit tests use small in-memory sources.
 */
export interface TableSource {
  /** Declared tables that can be queried, in a stable order. */
  listTables(): readonly TableSpec[];
  getTable(name: string): TableSpec | undefined;
  /**
   * Record batches of `table`, oldest first, that may hold rows with
   * startNs <= time_ < endNs (ns since the epoch). Batches are immutable;
   * the executor filters rows outside the range itself. Each batch's schema
   * is arrowSchema(spec) from src/tables/arrow.ts.
   */
  scan(table: string, startNs: bigint, endNs: bigint): readonly RecordBatch[];
}
