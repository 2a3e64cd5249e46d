import { Bool, Dictionary, Field, Float64, Int32, Int64, Schema, TimestampNanosecond, Utf8, type DataType } from 'apache-arrow';
import type { ColumnSpec, TableSpec } from './schema.ts';

/** The Arrow type a declared column is stored as. */
export function arrowType(column: ColumnSpec): DataType {
  switch (column.type) {
    case 'time64ns': return new TimestampNanosecond();
    case 'int64': return new Int64();
    case 'float64': return new Float64();
    case 'boolean': return new Bool();
    case 'uint128': return new Dictionary(new Utf8(), new Int32());
    case 'string': return column.dictionary ? new Dictionary(new Utf8(), new Int32()) : new Utf8();
  }
}

const schemas = new WeakMap<TableSpec, Schema>();

/** The Arrow schema of a declared table (memoized per declaration). */
export function arrowSchema(table: TableSpec): Schema {
  let schema = schemas.get(table);
  if (!schema) {
    schema = new Schema(
      table.columns.map((c) => new Field(c.name, arrowType(c), false, new Map([['wisp.type', c.type]]))),
      new Map([['wisp.table', table.name]]),
    );
    schemas.set(table, schema);
  }
  return schema;
}
