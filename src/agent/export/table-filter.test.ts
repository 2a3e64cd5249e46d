import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { executeLocal } from '../../query/index.ts';
import { httpRow, makeBatch, MemoryTableSource } from '../../query/arrow-batches.test-helper.ts';
import { compileTableFilter, FilterError } from './table-filter.ts';

const statuses = [200, 500, 404, 503, 200, 502];
const source = new MemoryTableSource({
  http_events: [makeBatch(statuses.map((status, i) => httpRow({ time_: BigInt(i + 1), resp_status: BigInt(status), req_path: `/p${i}`, req_method: i % 2 ? 'POST' : 'GET' })))],
});

/** The req_path of every row the filter keeps. */
function kept(filter: string): string[] {
  const result = executeLocal(compileTableFilter('http_events', filter, source), source, { maxOutputRows: 100 });
  const paths: string[] = [];
  for (const batch of result.outputs[0]!.table.batches) {
    assert.equal(batch.numCols, makeBatch([]).numCols, 'every column of the table is kept');
    for (let row = 0; row < batch.numRows; row++) paths.push(String(batch.getChild('req_path')!.get(row)));
  }
  return paths;
}

function refusal(filter: string): string {
  const started = performance.now();
  try {
    compileTableFilter('http_events', filter, source);
  } catch (error) {
    assert.ok(error instanceof FilterError, `not a FilterError: ${String(error)}`);
    assert.ok(performance.now() - started < 5000, 'refused in bounded time');
    assert.doesNotMatch(error.message, /\n/, 'one line');
    return error.message;
  }
  assert.fail(`compiled filter ${filter}`);
}

describe('compileTableFilter', () => {
  describe('with a valid filter', () => {
    it('keeps exactly the rows where the expression holds, columns by bare name', () => {
      assert.deepEqual(kept('resp_status >= 500'), ['/p1', '/p3', '/p5']);
    });

    it('accepts df.<column>, px functions, and/or and a filter over several lines', () => {
      assert.deepEqual(kept("resp_status >= 500 and df.req_method == 'POST'"), ['/p1', '/p3', '/p5']);
      assert.deepEqual(kept("(resp_status == 200) |\n px.contains(req_path, '2')"), ['/p0', '/p2', '/p4']);
    });
  });

  describe('with a filter that does not compile', () => {
    it('reports a syntax error at its line:column in the filter', () => {
      assert.match(refusal('resp_status >= '), /^1:16: syntax error/);
      assert.match(refusal('resp_status >= 500 and\n  (req_path == ))'), /^2:\d+: syntax error/);
    });

    it('names an unknown column at its position', () => {
      assert.equal(refusal('resp_status >= 500 and nope == 1'), "1:24: name 'nope' is not defined");
    });

    it('refuses an expression that is not boolean', () => {
      assert.match(refusal('resp_status + 1'), /^1:1: cannot index a DataFrame with int64 column expression/);
      assert.match(refusal('req_path'), /^1:1: cannot index a DataFrame with string column expression/);
    });

    it('refuses a filter that closes the brackets to add statements, outputs or pragmas', () => {
      assert.match(refusal("True], 'a')\npx.display(px.DataFrame('dns_events'))\nx = (df[True"), /^1:1: expected one boolean expression/);
      assert.match(refusal("True])\ndf.x = 1\npx.display(df[df.x == 1"), /^1:1: expected one boolean expression/);
      assert.match(refusal('resp_status > 1 # px:set max_output_rows_per_table=1\n'), /^1:1: expected one boolean expression/);
    });

    it('stays bounded on hostile filters (deep nesting, huge expressions)', () => {
      assert.match(refusal(`${'('.repeat(20000)}resp_status > 1${')'.repeat(20000)}`), /^1:\d+: /);
      assert.match(refusal(Array(20000).fill('resp_status').join(' + ')), /^1:\d+: /);
    });

    it('names a table the agent does not have', () => {
      assert.throws(() => compileTableFilter('no_such_table', 'x > 1', source), /table no_such_table is not produced by this agent/);
    });
  });
});
