// The JSON shape of query results for the agent's HTTP API and `wisp run -o json`.
import type { Data } from 'apache-arrow';
import type { ColumnType } from '../tables/schema.ts';
import type { QueryResult } from './local.executor.ts';
import { formatRfc3339Ns } from './time.format.ts';
import { vectorFromArrow, vectorStringAt } from './vector.ts';

export interface JsonColumn {
  readonly name: string;
  /** A Wisp column type name: time64ns, int64, float64, boolean, string, uint128. */
  readonly type: ColumnType;
}

export interface JsonOutput {
  readonly name: string;
  readonly columns: readonly JsonColumn[];
  /**
   * Row-major values: time64ns as RFC 3339 text with 9 fraction digits
   * ("2026-11-21T13:09:10.123456789Z"), int64 as numbers (exact below 2^53,
   * which holds for Wisp's counters, sizes, ports and latencies), float64 as
   * numbers (NaN and ±Infinity as null, which JSON cannot carry), booleans,
   * strings and uint128 as text.
   */
  readonly rows: readonly unknown[][];
  readonly truncated: boolean;
}

export interface JsonResult {
  readonly outputs: readonly JsonOutput[];
}

const columnTypes = new Set<string>(['time64ns', 'int64', 'float64', 'boolean', 'string', 'uint128']);

export function resultToJson(result: QueryResult): JsonResult {
  return {
    outputs: result.outputs.map((output): JsonOutput => {
      const fields = output.table.schema.fields;
      const columns = fields.map((field): JsonColumn => {
        const type = field.metadata.get('wisp.type');
        if (type === undefined || !columnTypes.has(type)) throw new Error(`convert output ${output.name} to JSON: column ${field.name} has no Wisp type`);
        return { name: field.name, type: type as ColumnType };
      });
      const rows: unknown[][] = [];
      for (const batch of output.table.batches) {
        const start = rows.length;
        for (let r = 0; r < batch.numRows; r++) rows.push(new Array<unknown>(columns.length));
        columns.forEach((column, c) => {
          const vector = vectorFromArrow(batch.data.children[c] as Data, column.type);
          for (let r = 0; r < batch.numRows; r++) {
            const row = rows[start + r] as unknown[];
            switch (vector.storage) {
              case 'bigint': {
                const value = vector.values[r] as bigint;
                row[c] = vector.type === 'time64ns' ? formatRfc3339Ns(value) : Number(value);
                break;
              }
              case 'float': {
                const value = vector.values[r] as number;
                row[c] = Number.isFinite(value) ? value : null;
                break;
              }
              case 'bool': row[c] = vector.values[r] === 1; break;
              case 'utf8':
              case 'dict': row[c] = vectorStringAt(vector, r); break;
            }
          }
        });
      }
      return { name: output.name, columns, rows, truncated: output.truncated };
    }),
  };
}
