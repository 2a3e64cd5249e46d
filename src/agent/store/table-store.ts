import type { RecordBatch } from 'apache-arrow';
import type { TableSource } from '../../query/source.ts';
import type { TableSpec } from '../../tables/schema.ts';
import { BatchBuilder, type SealedBatch } from './batch-builder.ts';

export type { SealedBatch };

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
  /** ns since the epoch, on the clock rows are stamped with; age retention also runs on every scan. */
  nowNs?: () => bigint;
}

export interface TableOptions {
  /** Per-table byte budget (defaults to the total budget). */
  maxBytes?: number;
  /** A batch is expired once its oldest row is older than this (0 = no age limit). */
  maxAgeNs?: bigint;
}

/** Why rows left a table (expired) or never entered it (dropped); each is a /metrics reason label. */
export const ExpiryReason = Object.freeze({
  /** The table's maxAge. */
  Age: 'age',
  /** The table's maxBytes. */
  Bytes: 'bytes',
  /** The store's total budget (the globally oldest batch goes first). */
  Total: 'total',
  /** The table was removed (a rollup no longer in the plan). */
  Removed: 'removed',
} as const);
export type ExpiryReason = (typeof ExpiryReason)[keyof typeof ExpiryReason];

export const DropReason = Object.freeze({
  /** One sealed batch was larger than the table's whole byte budget. */
  BatchOverBudget: 'batch_over_budget',
} as const);
export type DropReason = (typeof DropReason)[keyof typeof DropReason];

/**
 * Called with every sealed batch of a table, before retention may expire it
 * (and also for a batch that is then dropped for being over budget), so a
 * subscriber sees every committed row exactly once.
 */
export type SealListener = (sealed: SealedBatch) => void;

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
  /** rowsExpired by reason (every ExpiryReason, zeros included). */
  readonly rowsExpiredBy: Readonly<Record<ExpiryReason, number>>;
  /** rowsDropped by reason (every DropReason, zeros included). */
  readonly rowsDroppedBy: Readonly<Record<DropReason, number>>;
  readonly maxBytes: number;
  /** 0 = no age limit. */
  readonly maxAgeNs: bigint;
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
  readonly rowsExpiredBy: Record<ExpiryReason, number> = { age: 0, bytes: 0, total: 0, removed: 0 };
  readonly rowsDroppedBy: Record<DropReason, number> = { batch_over_budget: 0 };
  readonly listeners: SealListener[] = [];

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
 * tables together exceed the total budget; every dropped row is counted
 * with its reason.
 *
 * Age is judged by a batch's oldest row, on every tick and before every
 * scan, so a query never sees a row older than the table's maxAge; the
 * price is that a batch's younger rows leave with it (a batch spans at most
 * sealAfterMs plus one tick while traffic is light, less when it fills).
 *
 * Writers append through `writer(name)`; the returned BatchBuilder is valid
 * until the next `commit(name)`, which seals the batch when it is full.
 */
export class TableStore implements TableSource {
  private readonly tables = new Map<string, StoredTable>();
  private readonly totalBudgetBytes: number;
  private readonly batchRows: number;
  private readonly batchBytes: number;
  private readonly nowNs: () => bigint;

  constructor(options: TableStoreOptions = {}) {
    this.totalBudgetBytes = options.totalBudgetBytes ?? DEFAULTS.totalBudgetBytes;
    this.batchRows = options.batchRows ?? DEFAULTS.batchRows;
    this.batchBytes = options.batchBytes ?? DEFAULTS.batchBytes;
    this.nowNs = options.nowNs ?? (() => BigInt(Date.now()) * 1_000_000n);
  }

  /** The store's budget for all tables together. */
  get totalBudget(): number {
    return this.totalBudgetBytes;
  }

  register(spec: TableSpec, options: TableOptions = {}): void {
    if (this.tables.has(spec.name)) throw new Error(`register table ${spec.name}: already registered`);
    this.tables.set(spec.name, new StoredTable(spec, {
      maxBytes: options.maxBytes ?? this.totalBudgetBytes,
      maxAgeNs: options.maxAgeNs ?? 0n,
    }, this.batchRows));
  }

  /**
   * Removes a table and its rows (counted as expired, reason removed, in the
   * stats returned). Batches a running query already holds stay valid.
   */
  unregister(name: string): TableStats {
    const table = this.mustGet(name);
    if (table.open.rows > 0) this.seal(table);
    table.listeners.length = 0;
    while (table.sealed.length > 0) this.expireOldest(table, ExpiryReason.Removed);
    const [stats] = this.statsOf([table]);
    this.tables.delete(name);
    return stats!;
  }

  /** Changes a table's budgets (undefined = back to the default); retention applies at once. */
  configure(name: string, options: TableOptions): void {
    const table = this.mustGet(name);
    table.maxBytes = options.maxBytes ?? this.totalBudgetBytes;
    table.maxAgeNs = options.maxAgeNs ?? 0n;
    this.enforce(table, this.nowNs());
  }

  /**
   * Calls `listener` with every batch of `name` sealed from now on (see
   * SealListener); returns the function that unsubscribes.
   */
  subscribe(name: string, listener: SealListener): () => void {
    const listeners = this.mustGet(name).listeners;
    listeners.push(listener);
    return () => {
      const i = listeners.indexOf(listener);
      if (i >= 0) listeners.splice(i, 1);
    };
  }

  /** Seals the open batch of `name` now, so subscribers see every row committed so far. */
  flush(name: string): void {
    const table = this.mustGet(name);
    if (table.open.rows > 0) this.seal(table);
  }

  /** Sealed batches of `name` held now, oldest first (for a subscriber that joins late). */
  heldBatches(name: string): readonly SealedBatch[] {
    return [...this.mustGet(name).sealed];
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
    this.enforce(table, this.nowNs());
    const out: RecordBatch[] = [];
    for (const sealed of table.sealed) {
      if (sealed.maxTimeNs >= startNs && sealed.minTimeNs < endNs) out.push(sealed.batch);
    }
    return out;
  }

  stats(): TableStats[] {
    return this.statsOf(this.tables.values());
  }

  private statsOf(tables: Iterable<StoredTable>): TableStats[] {
    return [...tables].map((t) => ({
      name: t.spec.name,
      columns: t.spec.columns.map((c) => ({ name: c.name, type: c.type })),
      rows: t.sealedRows + t.open.rows,
      bytes: t.sealedBytes + t.open.bytes(),
      batches: t.sealed.length,
      oldestTimeNs: oldestRow(t.sealed),
      rowsAdded: t.rowsAdded,
      rowsExpired: t.rowsExpired,
      rowsDropped: t.rowsDropped,
      rowsExpiredBy: { ...t.rowsExpiredBy },
      rowsDroppedBy: { ...t.rowsDroppedBy },
      maxBytes: t.maxBytes,
      maxAgeNs: t.maxAgeNs,
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
    for (const listener of table.listeners) listener(sealed);
    if (sealed.bytes > table.maxBytes) {
      // A batch larger than the whole budget can never be kept.
      table.rowsDropped += sealed.rows;
      table.rowsDroppedBy[DropReason.BatchOverBudget] += sealed.rows;
      return;
    }
    table.sealed.push(sealed);
    table.sealedBytes += sealed.bytes;
    table.sealedRows += sealed.rows;
    this.enforce(table, null);
    this.enforceTotal();
  }

  private enforce(table: StoredTable, nowNs: bigint | null): void {
    while (table.sealed.length > 0 && table.sealedBytes > table.maxBytes) this.expireOldest(table, ExpiryReason.Bytes);
    if (nowNs !== null && table.maxAgeNs > 0n) {
      const cutoff = nowNs - table.maxAgeNs;
      // Batches are not sorted by their oldest row: look at every one.
      for (let i = 0; i < table.sealed.length;) {
        if (table.sealed[i]!.minTimeNs < cutoff) this.expireAt(table, i, ExpiryReason.Age);
        else i++;
      }
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
      total -= this.expireOldest(victim, ExpiryReason.Total);
    }
  }

  private expireOldest(table: StoredTable, reason: ExpiryReason): number {
    return this.expireAt(table, 0, reason);
  }

  private expireAt(table: StoredTable, index: number, reason: ExpiryReason): number {
    const [batch] = table.sealed.splice(index, 1);
    table.sealedBytes -= batch!.bytes;
    table.sealedRows -= batch!.rows;
    table.rowsExpired += batch!.rows;
    table.rowsExpiredBy[reason] += batch!.rows;
    return batch!.bytes;
  }

  private mustGet(name: string): StoredTable {
    const table = this.tables.get(name);
    if (!table) throw new Error(`use table ${name}: not registered`);
    return table;
  }
}

function oldestRow(batches: readonly SealedBatch[]): bigint | null {
  let oldest: bigint | null = null;
  for (const b of batches) if (oldest === null || b.minTimeNs < oldest) oldest = b.minTimeNs;
  return oldest;
}
