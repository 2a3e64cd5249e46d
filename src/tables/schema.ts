// Table declarations: each table's schema is declared once, here, and the
// store, the query catalogue, the OTel mapping and the docs read it.

/**
 * Column types, named after Pixie's data types.
 * - time64ns: ns since the Unix epoch (Arrow Timestamp<ns>, BigInt64Array)
 * - int64:    Arrow Int64 (BigInt64Array)
 * - float64:  Arrow Float64
 * - boolean:  Arrow Bool
 * - string:   Arrow Utf8, or Dictionary<Utf8, Int32> when `dictionary` is set
 * - uint128:  a 128-bit id (upid), carried as its canonical text
 *             "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" in a dictionary-encoded Utf8
 */
export type ColumnType = 'time64ns' | 'int64' | 'float64' | 'boolean' | 'string' | 'uint128';

export interface ColumnSpec {
  readonly name: string;
  readonly type: ColumnType;
  readonly description: string;
  /** Dictionary-encode this string column (few distinct values). */
  readonly dictionary?: boolean;
}

export interface TableSpec {
  readonly name: string;
  readonly description: string;
  readonly columns: readonly ColumnSpec[];
}

export function defineTable(spec: TableSpec): TableSpec {
  const seen = new Set<string>();
  for (const column of spec.columns) {
    if (seen.has(column.name)) throw new Error(`define table ${spec.name}: duplicate column ${column.name}`);
    seen.add(column.name);
  }
  if (spec.columns[0]?.name !== 'time_') throw new Error(`define table ${spec.name}: first column must be time_`);
  return Object.freeze({ ...spec, columns: Object.freeze(spec.columns.map((c) => Object.freeze({ ...c }))) });
}
