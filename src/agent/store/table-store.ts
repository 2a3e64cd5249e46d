import type { RecordBatch } from 'apache-arrow';
import type { TableSource } from '../../query/source.ts';
import type { TableSpec } from '../../tables/schema.ts';
import { BatchBuilder, type SealedBatch } from './batch-builder.ts';

export const DEFAULTS = Object.freeze({
  /** Budget for all tables together. */
  totalBudgetBytes: 128 * 1024 * 1024,
  /** Rows per batch before it is sealed. */
  batchRows: 4096,
  /** Bytes an open batch may hold before it is sealed (bounds string columns). */
  batchBytes: 4 * 1024 * 1024,
  /** An open batch older than this is sealed on the next tick, so queries see whole batches. */
  sealAfterMs: 1000,
});

export interface TableStoreOptions {
  totalBudgetBytes?: number;
  batchRows?: number;
  batchBytes?: number;
}

export interface TableOptions {
  /** Per-table byte budget (defaults to the total budget). */
  maxBytes?: number;
  /** Batches whose newest row is older than this are expired (0 = no age limit). */
  maxAgeNs?: bigint;
}

/** Accounting for one table: rowsAdded = rows + rowsExpired + rowsDropped (rows counts the open batch). */
export interface TableStats {
  readonly name: string;
  readonly columns: readonly { name: string; type: string }[];
  readonly rows: number;
  readonly bytes: number;
  readonly batches: number;
  readonly oldestTimeNs: bigint | null;
  readonly rowsAdded: number;
  readonly rowsExpired: number;
  readonly rowsDropped: number;
  readonly maxBytes: number;
}

class StoredTable {
  readonly spec: TableSpec;
  maxBytes: number;
  maxAgeNs: bigint;
  readonly sealed: SealedBatch[] = [];
  open: BatchBuilder;
  openedAtMs = Date.now();
  sealedBytes = 0;
  sealedRows = 0;
  rowsAdded = 0;
  rowsExpired = 0;
  rowsDropped = 0;

  constructor(spec: TableSpec, options: Required<TableOptions>, batchRows: number) {
    this.spec = spec;
    this.maxBytes = options.maxBytes;
    this.maxAgeNs = options.maxAgeNs;
    this.open = new BatchBuilder(spec, batchRows);
  }
}

/**
 * In-memory columnar store: per table, sealed Arrow record batches (oldest
 * first) plus one open batch being filled. Retention drops whole batches,
 * oldest first, when a table exceeds its byte budget or age, or when all
 * tables together exceed the total budget; every dropped row is counted.
 *
 * Writers append through `writer(name)`; the returned BatchBuilder is valid
 * until the next `commit(name)`, which seals the batch when it is full.
 */
export class TableStore implements TableSource {
  private readonly tables = new Map<string, StoredTable>();
  private readonly totalBudgetBytes: number;
  private readonly batchRows: number;
  private readonly batchBytes: number;

  constructor(options: TableStoreOptions = {}) {
    this.totalBudgetBytes = options.totalBudgetBytes ?? DEFAULTS.totalBudgetBytes;
    this.batchRows = options.batchRows ?? DEFAULTS.batchRows;
    this.batchBytes = options.batchBytes ?? DEFAULTS.batchBytes;
  }

  register(spec: TableSpec, options: TableOptions = {}): void {
    if (this.tables.has(spec.name)) throw new Error(`register table ${spec.name}: already registered`);
    this.tables.set(spec.name, new StoredTable(spec, {
      maxBytes: options.maxBytes ?? this.totalBudgetBytes,
      maxAgeNs: options.maxAgeNs ?? 0n,
    }, this.batchRows));
  }

  /** Changes a table's budgets; retention applies at once. */
  configure(name: string, options: TableOptions): void {
    const table = this.mustGet(name);
    if (options.maxBytes !== undefined) table.maxBytes = options.maxBytes;
    if (options.maxAgeNs !== undefined) table.maxAgeNs = options.maxAgeNs;
    this.enforce(table, null);
  }

  /** The open batch of a table: set each column, then call commit(name). */
  writer(name: string): BatchBuilder {
    return this.mustGet(name).open;
  }

  /** Ends the row being written to `name`'s open batch. */
  commit(name: string): void {
    const table = this.mustGet(name);
    table.open.commitRow();
    table.rowsAdded++;
    if (table.open.full || table.open.bytes() >= this.batchBytes) this.seal(table);
  }

  /** Seals open batches older than sealAfterMs and applies age retention. */
  tick(nowNs: bigint): void {
    const nowMs = Date.now();
    for (const table of this.tables.values()) {
      if (table.open.rows > 0 && nowMs - table.openedAtMs >= DEFAULTS.sealAfterMs) this.seal(table);
      this.enforce(table, nowNs);
    }
  }

  listTables(): readonly TableSpec[] {
    return [...this.tables.values()].map((t) => t.spec);
  }

  getTable(name: string): TableSpec | undefined {
    return this.tables.get(name)?.spec;
  }

  scan(name: string, startNs: bigint, endNs: bigint): readonly RecordBatch[] {
    const table = this.tables.get(name);
    if (!table) return [];
    // Queries see every committed row: seal the open batch first.
    if (table.open.rows > 0) this.seal(table);
    const out: RecordBatch[] = [];
    for (const sealed of table.sealed) {
      if (sealed.maxTimeNs >= startNs && sealed.minTimeNs < endNs) out.push(sealed.batch);
    }
    return out;
  }

  stats(): TableStats[] {
    return [...this.tables.values()].map((t) => ({
      name: t.spec.name,
      columns: t.spec.columns.map((c) => ({ name: c.name, type: c.type })),
      rows: t.sealedRows + t.open.rows,
      bytes: t.sealedBytes + t.open.bytes(),
      batches: t.sealed.length,
      oldestTimeNs: t.sealed[0]?.minTimeNs ?? null,
      rowsAdded: t.rowsAdded,
      rowsExpired: t.rowsExpired,
      rowsDropped: t.rowsDropped,
      maxBytes: t.maxBytes,
    }));
  }

  /** Bytes held by all tables, open batches included. */
  totalBytes(): number {
    let total = 0;
    for (const t of this.tables.values()) total += t.sealedBytes + t.open.bytes();
    return total;
  }

  private seal(table: StoredTable): void {
    const sealed = table.open.seal();
    table.open = new BatchBuilder(table.spec, this.batchRows);
    table.openedAtMs = Date.now();
    if (sealed.bytes > table.maxBytes) {
      // A batch larger than the whole budget can never be kept.
      table.rowsDropped += sealed.rows;
      return;
    }
    table.sealed.push(sealed);
    table.sealedBytes += sealed.bytes;
    table.sealedRows += sealed.rows;
    this.enforce(table, null);
    this.enforceTotal();
  }

  private enforce(table: StoredTable, nowNs: bigint | null): void {
    while (table.sealed.length > 0 && table.sealedBytes > table.maxBytes) this.expireOldest(table);
    if (nowNs !== null && table.maxAgeNs > 0n) {
      const cutoff = nowNs - table.maxAgeNs;
      while (table.sealed.length > 0 && table.sealed[0]!.maxTimeNs < cutoff) this.expireOldest(table);
    }
  }

  private enforceTotal(): void {
    let total = this.totalBytes();
    while (total > this.totalBudgetBytes) {
      // Expire the globally oldest sealed batch.
      let victim: StoredTable | undefined;
      for (const t of this.tables.values()) {
        const head = t.sealed[0];
        if (head && (!victim || head.minTimeNs < victim.sealed[0]!.minTimeNs)) victim = t;
      }
      if (!victim) return;
      total -= this.expireOldest(victim);
    }
  }

  private expireOldest(table: StoredTable): number {
    const oldest = table.sealed.shift()!;
    table.sealedBytes -= oldest.bytes;
    table.sealedRows -= oldest.rows;
    table.rowsExpired += oldest.rows;
    return oldest.bytes;
  }

  private mustGet(name: string): StoredTable {
    const table = this.tables.get(name);
    if (!table) throw new Error(`use table ${name}: not registered`);
    return table;
  }
}
