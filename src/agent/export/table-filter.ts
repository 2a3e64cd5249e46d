// `source.filter` of a table source: a PxL boolean expression over the
// table's columns (`resp_status >= 500`), compiled by the real query compiler
// into a one-output plan `df[<filter>]` and run by the real executor. There is
// no second expression evaluator: what a script may write in `df[...]`, a
// filter may write, with the columns also in scope by their bare names.
import { compileScript, QueryError, type CompiledQuery, type TableCatalog } from '../../query/index.ts';

/** The compiled filter is run over a view of unread batches: every row's time_ is in range. */
const INT64_MAX = '9223372036854775807';

/** Why a filter was refused: `line:column: message`, positions counted in the filter text itself. */
export class FilterError extends Error {
  override readonly name = 'FilterError';
}

/**
 * Compiles `filter` over `table` into a query whose single output is the
 * table's rows (all columns, in the store's order) where the filter is true.
 * Throws FilterError (one line, with the filter's own line:column) when it
 * does not compile, is not boolean, or is anything but one expression.
 */
export function compileTableFilter(table: string, filter: string, catalog: TableCatalog): CompiledQuery {
  const spec = catalog.getTable(table);
  if (!spec) throw new FilterError(`1:1: table ${table} is not produced by this agent`);
  // Each column is also a variable (resp_status for df.resp_status). `df` and `px` keep their meaning.
  const bindings = spec.columns.filter((c) => c.name !== 'df' && c.name !== 'px').map((c) => `${c.name} = df.${c.name}`);
  const prologue = ['import px', `df = px.DataFrame(table='${table}', start_time=0, end_time=${INT64_MAX})`, ...bindings, 'px.display(df['];
  // The filter starts a line of its own, inside the brackets (implicit line joining), so its
  // line:column are the script's shifted by the prologue's lines only.
  const script = `${prologue.join('\n')}\n${filter}\n], 'filtered')\n`;
  const firstLine = prologue.length + 1;
  const filterLines = filter.split('\n');
  let compiled: CompiledQuery;
  try {
    compiled = compileScript(script, catalog, { nowNs: 0n });
  } catch (error) {
    if (!(error instanceof QueryError)) throw new FilterError(`1:1: ${(error as Error).message.split('\n')[0]}`, { cause: error });
    let line = error.line - firstLine + 1;
    let column = error.column;
    if (line < 1) [line, column] = [1, 1];
    else if (line > filterLines.length) [line, column] = [filterLines.length, filterLines.at(-1)!.length + 1];
    throw new FilterError(`${line}:${column}: ${error.message.split('\n')[0]}`, { cause: error });
  }
  // A filter that closes the brackets could add statements: only `df[<one expression>]` over the
  // unchanged table, with no pragma, is a filter.
  const output = compiled.outputs[0];
  const node = output?.plan.input;
  if (compiled.outputs.length !== 1 || compiled.settings !== undefined || node?.op !== 'filter' || node.input.op !== 'memorySource'
    || node.input.table !== table || node.input.startNs !== '0' || node.input.endNs !== INT64_MAX || node.columns.length !== spec.columns.length) {
    throw new FilterError('1:1: expected one boolean expression over the columns of the table');
  }
  return compiled;
}
