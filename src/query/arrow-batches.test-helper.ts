// Test helpers: Arrow record batches from row objects (with the store's
// schema, via src/tables/arrow.ts) and an in-memory TableSource.
import { RecordBatch, Struct, makeData, vectorFromArray, type Data, type Field } from 'apache-arrow';
import { arrowSchema } from '../tables/arrow.ts';
import { builtinTables, httpEvents } from '../tables/index.ts';
import type { TableSpec } from '../tables/schema.ts';
import type { TableSource } from './source.ts';

export type Row = Readonly<Record<string, unknown>>;

/** An http_events row: sensible defaults, overridden by `fields` (time_ and int64 columns as bigint or number). */
export function httpRow(fields: Row): Row {
  return {
    time_: 0n, upid: '00000001-0000-0002-0000-000000000003', remote_addr: '10.0.0.2', remote_port: 51234n,
    local_addr: '10.0.0.1', local_port: 8080n, trace_role: 2n, encrypted: false, major_version: 1n, minor_version: 1n,
    content_type: 0n, req_headers: '{}', req_method: 'GET', req_path: '/', req_body: '', req_body_size: 0n,
    resp_headers: '{}', resp_status: 200n, resp_message: 'OK', resp_body: '', resp_body_size: 0n, latency: 1000n,
    ...fields,
  };
}

function columnData(field: Field, spec: TableSpec, rows: readonly Row[]): Data {
  const column = spec.columns.find((c) => c.name === field.name);
  if (!column) throw new Error(`make batch: no column ${field.name}`);
  const values = rows.map((row) => {
    const value = row[field.name];
    if (value === undefined) throw new Error(`make batch: row without ${field.name}`);
    return value;
  });
  switch (column.type) {
    case 'time64ns':
    case 'int64':
      return makeData({ type: field.type, length: rows.length, data: BigInt64Array.from(values, (v) => BigInt(v as bigint | number)) });
    case 'float64':
      return makeData({ type: field.type, length: rows.length, data: Float64Array.from(values as number[]) });
    default:
      return vectorFromArray(values, field.type).data[0] as Data;
  }
}

/** One record batch of `spec` (default http_events) holding `rows`. */
export function makeBatch(rows: readonly Row[], spec: TableSpec = httpEvents): RecordBatch {
  const schema = arrowSchema(spec);
  const children = schema.fields.map((field) => columnData(field, spec, rows));
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: rows.length, children }));
}

/** A TableSource over fixed batches; scan returns every batch of the table (the executor applies the time range). */
export class MemoryTableSource implements TableSource {
  readonly #batches: ReadonlyMap<string, readonly RecordBatch[]>;
  /** Every scan call, for tests of what the executor asks for. */
  readonly scans: { table: string; startNs: bigint; endNs: bigint }[] = [];

  constructor(batches: Readonly<Record<string, readonly RecordBatch[]>>) {
    this.#batches = new Map(Object.entries(batches));
  }

  listTables(): readonly TableSpec[] {
    return [...builtinTables.values()];
  }

  getTable(name: string): TableSpec | undefined {
    return builtinTables.get(name);
  }

  scan(table: string, startNs: bigint, endNs: bigint): readonly RecordBatch[] {
    this.scans.push({ table, startNs, endNs });
    return this.#batches.get(table) ?? [];
  }
}
