import assert from 'node:assert/strict';
import { builtinTables } from '../tables/index.ts';
import { compileScript, QueryError } from './index.ts';
import type { CompiledOutput, FilterNode, LimitNode, MapNode, MemorySourceNode, PlanNode, ScalarExpr } from './plan.ts';

const catalog = { getTable: (name: string) => builtinTables.get(name) };
const NOW_NS = 1_700_000_000_000_000_000n;
const MINUTE_NS = 60_000_000_000n;

function compile(source: string): readonly CompiledOutput[] {
  return compileScript(source, catalog, { nowNs: NOW_NS }).outputs;
}

function only(source: string): CompiledOutput {
  const outputs = compile(source);
  assert.equal(outputs.length, 1);
  return outputs[0] as CompiledOutput;
}

/** The plan's operators from the source up (sink excluded). */
function chain(node: PlanNode): PlanNode[] {
  const nodes: PlanNode[] = [];
  let at: PlanNode | undefined = node;
  while (at) {
    nodes.unshift(at);
    at = 'input' in at ? at.input : undefined;
  }
  return nodes;
}

function sourceOf(output: CompiledOutput): MemorySourceNode {
  const source = chain(output.plan)[0];
  assert.equal(source?.op, 'memorySource');
  return source as MemorySourceNode;
}

function argsOf(expr: ScalarExpr): readonly ScalarExpr[] {
  assert.equal(expr.kind, 'call');
  return expr.kind === 'call' ? expr.args : [];
}

function fnOf(expr: ScalarExpr): string | undefined {
  return expr.kind === 'call' ? expr.fn : undefined;
}

function compileError(source: string): QueryError {
  try {
    compileScript(source, catalog, { nowNs: NOW_NS });
  } catch (error) {
    assert.ok(error instanceof QueryError, `expected a QueryError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the script to be refused');
}

function assertError(source: string, at: string, message: RegExp): void {
  const error = compileError(source);
  assert.equal(`${error.line}:${error.column}`, at, `position of "${error.message}"`);
  assert.match(error.message, message);
}

const header = "import px\ndf = px.DataFrame(table='http_events', start_time='-5m')\n";

describe('compileScript', () => {
  describe('px.DataFrame', () => {
    it('reads every column of the table over the relative time range up to now', () => {
      const source = sourceOf(only(`${header}px.display(df)`));
      assert.equal(source.table, 'http_events');
      assert.equal(source.startNs, (NOW_NS - 5n * MINUTE_NS).toString());
      assert.equal(source.endNs, NOW_NS.toString());
      assert.deepEqual(source.columns.map((c) => c.name), builtinTables.get('http_events')?.columns.map((c) => c.name));
    });

    it('takes the table positionally and keeps the select list in its order', () => {
      const output = only("import px\ndf = px.DataFrame('http_events', select=['resp_status', 'time_'])\npx.display(df)");
      assert.deepEqual(output.columns, [{ name: 'resp_status', type: 'int64' }, { name: 'time_', type: 'time64ns' }]);
    });

    it('keeps the dictionary encoding of dictionary-encoded string columns', () => {
      const output = only("import px\ndf = px.DataFrame('http_events', select=['req_method', 'req_path'])\npx.display(df)");
      assert.deepEqual(output.columns, [{ name: 'req_method', type: 'string', dictionary: true }, { name: 'req_path', type: 'string' }]);
    });

    for (const [text, agoNs] of [['-30s', 30_000_000_000n], ['-1h', 60n * MINUTE_NS], ['-2h30m', 150n * MINUTE_NS], ['-1.5s', 1_500_000_000n]] as const) {
      it(`reads start_time '${text}' as now minus ${agoNs} ns`, () => {
        const source = sourceOf(only(`import px\ndf = px.DataFrame('http_events', start_time='${text}')\npx.display(df)`));
        assert.equal(source.startNs, (NOW_NS - agoNs).toString());
      });
    }

    it('takes absolute times as int ns, RFC 3339 text or px.now() arithmetic', () => {
      const source = sourceOf(only(
        "import px\ndf = px.DataFrame('http_events', start_time='2023-11-14T22:00:00.123456789Z', end_time=px.now() - px.minutes(1))\npx.display(df)",
      ));
      assert.equal(source.startNs, '1699999200123456789');
      assert.equal(source.endNs, (NOW_NS - MINUTE_NS).toString());
      const fromInt = sourceOf(only("import px\ndf = px.DataFrame('http_events', start_time=1000, end_time=2000)\npx.display(df)"));
      assert.deepEqual([fromInt.startNs, fromInt.endNs], ['1000', '2000']);
    });

    it('reads all retained data when start_time is omitted', () => {
      assert.equal(sourceOf(only("import px\ndf = px.DataFrame('http_events')\npx.display(df)")).startNs, '0');
    });
  });

  describe('filters', () => {
    function predicate(filter: string): ScalarExpr {
      const output = only(`${header}df = df[${filter}]\npx.display(df)`);
      const node = chain(output.plan).find((n) => n.op === 'filter') as FilterNode | undefined;
      assert.ok(node, 'a filter node');
      return node.predicate;
    }

    it('compiles a comparison of a column with a literal', () => {
      assert.deepEqual(predicate('df.resp_status == 200'), {
        kind: 'call', fn: 'equal', type: 'boolean',
        args: [{ kind: 'column', name: 'resp_status', type: 'int64' }, { kind: 'literal', type: 'int64', value: '200' }],
      });
    });

    it('maps every operator to a registered function', () => {
      const cases: [string, string][] = [
        ['df.resp_status != 200', 'notEqual'], ['df.latency < 5', 'less'], ['df.latency <= 5', 'lessEqual'],
        ['df.latency > 5', 'greater'], ['df.latency >= 5', 'greaterEqual'],
        ['(df.latency > 5) & (df.encrypted == True)', 'and'], ['(df.latency > 5) | df.encrypted', 'or'],
        ['df.latency > 5 and df.encrypted', 'and'], ['df.latency > 5 or df.encrypted', 'or'],
        ['~df.encrypted', 'not'], ['not df.encrypted', 'not'],
      ];
      for (const [text, fn] of cases) assert.equal(fnOf(predicate(text)), fn, text);
    });

    it('gives not precedence over and, and and over or (as Python)', () => {
      const expr = predicate('not df.encrypted and df.latency > 5 or df.latency < 2');
      assert.equal(fnOf(expr), 'or');
      assert.deepEqual(argsOf(argsOf(expr)[0] as ScalarExpr).map(fnOf), ['not', 'greater']);
      assert.equal(fnOf(predicate('df.encrypted or not df.latency > 5 and df.latency < 2')), 'or');
    });

    it('converts int literals to float64 where they meet a float column', () => {
      const output = only(`${header}df.x = df.latency / 2\ndf = df[df.x > 1]\npx.display(df)`);
      const filter = chain(output.plan).find((n) => n.op === 'filter') as FilterNode;
      assert.deepEqual(argsOf(filter.predicate)[1], { kind: 'literal', type: 'float64', value: 1 });
    });

    it('folds constant sub-expressions and variables holding constants', () => {
      assert.deepEqual(argsOf(predicate('df.resp_status == 400 + 4'))[1], { kind: 'literal', type: 'int64', value: '404' });
      const output = only(`${header}status = 500\ndf = df[df.resp_status >= status]\npx.display(df)`);
      const filter = chain(output.plan).find((n) => n.op === 'filter') as FilterNode;
      assert.deepEqual(argsOf(filter.predicate)[1], { kind: 'literal', type: 'int64', value: '500' });
    });

    it('expands chained comparisons as Python does', () => {
      const expr = predicate('200 <= df.resp_status < 300');
      assert.equal(fnOf(expr), 'and');
      assert.deepEqual(argsOf(expr).map(fnOf), ['lessEqual', 'less']);
    });

    it('compares time_ with ints and strings columns with uint128 text', () => {
      assert.equal(fnOf(predicate('df.time_ >= 5')), 'greaterEqual');
      assert.equal(fnOf(predicate("df.upid == '00000001-0000-0002-0000-000000000003'")), 'equal');
    });

    it('decodes Python string literals', () => {
      const args = argsOf(predicate(String.raw`df.req_path == '/a\tb\x41' "\u00e9" r'\n'`));
      assert.deepEqual(args[1], { kind: 'literal', type: 'string', value: '/a\tbAé\\n' });
    });
  });

  describe('column selection, assignment, drop and head', () => {
    it("selects columns with df[['a', 'b']] and df['a', 'b']", () => {
      for (const select of ["df[['req_path', 'resp_status']]", "df['req_path', 'resp_status']"]) {
        const output = only(`${header}df = ${select}\npx.display(df)`);
        assert.deepEqual(output.columns.map((c) => c.name), ['req_path', 'resp_status'], select);
        // The source reads only what the output needs.
        assert.deepEqual(sourceOf(output).columns.map((c) => c.name), ['req_path', 'resp_status']);
      }
    });

    it('appends assigned columns and replaces existing ones in place', () => {
      const output = only(`${header}df = df[['resp_status', 'latency']]\ndf.latency_ms = df.latency / 1000000\ndf['resp_status'] = df.resp_status % 100\npx.display(df)`);
      assert.deepEqual(output.columns, [
        { name: 'resp_status', type: 'int64' }, { name: 'latency', type: 'int64' }, { name: 'latency_ms', type: 'float64' },
      ]);
    });

    it('drops columns', () => {
      const output = only(`${header}df = df[['time_', 'req_path', 'resp_status']]\ndf = df.drop(['req_path'])\ndf = df.drop('time_')\npx.display(df)`);
      assert.deepEqual(output.columns.map((c) => c.name), ['resp_status']);
    });

    it('limits with head(n), 5 rows by default', () => {
      const limits = (text: string): number[] => chain(only(`${header}df = ${text}\npx.display(df)`).plan).filter((n) => n.op === 'limit').map((n) => (n as LimitNode).n);
      assert.deepEqual(limits('df.head(20)'), [20]);
      assert.deepEqual(limits('df.head(n=3)'), [3]);
      assert.deepEqual(limits('df.head()'), [5]);
    });
  });

  describe('outputs', () => {
    it('has one output per px.display, named "output" by default', () => {
      const outputs = compile(`${header}px.display(df)\npx.display(df.head(2), 'first')\npx.display(df[df.resp_status == 500], name='errors')`);
      assert.deepEqual(outputs.map((o) => o.name), ['output', 'first', 'errors']);
    });

    it('has no output when the script displays nothing (as Pixie)', () => {
      assert.deepEqual(compile(`${header}df = df.head(3)`), []);
    });

    it('ignores #px:set pragmas and comments', () => {
      assert.equal(compile(`#px:set max_output_rows_per_table=500\n${header}# a comment\npx.display(df)  # trailing`).length, 1);
    });

    it('survives a JSON round trip unchanged', () => {
      const compiled = compileScript(`${header}df.x = df.latency * 2\ndf = df[df.x > 10].head(3)\npx.display(df)`, catalog, { nowNs: NOW_NS });
      assert.deepEqual(JSON.parse(JSON.stringify(compiled)), compiled);
    });
  });

  describe('fragments', () => {
    it('runs source, filter and map on the node; the merge only unions', () => {
      const output = only(`${header}df = df[df.resp_status == 200]\ndf = df[['req_path']]\npx.display(df, 'ok')`);
      assert.deepEqual(chain(output.nodeFragment).map((n) => n.op), ['memorySource', 'filter', 'map']);
      assert.deepEqual(chain(output.mergeFragment).map((n) => n.op), ['remoteSource', 'sink']);
      assert.equal(output.mergeFragment.name, 'ok');
      // Pruned: the source reads the filter's and the output's columns only.
      assert.deepEqual((chain(output.nodeFragment)[0] as MemorySourceNode).columns.map((c) => c.name), ['req_path', 'resp_status']);
    });

    it('limits on the node and again at the merge; later operators run at the merge', () => {
      const output = only(`${header}df = df.head(10)\ndf = df[df.resp_status == 200]\npx.display(df)`);
      assert.deepEqual(chain(output.nodeFragment).map((n) => n.op), ['memorySource', 'limit']);
      assert.deepEqual(chain(output.mergeFragment).map((n) => n.op), ['remoteSource', 'limit', 'filter', 'sink']);
    });

    it('drops map assignments nothing reads', () => {
      const output = only(`${header}df.a = df.latency * 2\ndf.b = df.latency * 3\ndf = df[['b']]\npx.display(df)`);
      const maps = chain(output.nodeFragment).filter((n) => n.op === 'map') as MapNode[];
      assert.deepEqual(maps.map((m) => m.assignments.map((a) => a.name)), [['latency'], ['b'], ['b']]);
    });
  });

  describe('errors', () => {
    it('reports a syntax error at the unexpected token', () => {
      assertError(`${header}df = df[df.resp_status == ]`, '3:27', /^syntax error: unexpected "]"$/);
      assertError('import px\ndf = = 1', '2:6', /^syntax error/);
      assertError(`${header}df = df[df.resp_status == 200`, '3:30', /unexpected end of script/);
    });

    it('reports an unexpected indent', () => {
      assertError(`${header}  df = df.head(3)`, '3:3', /unexpected indent/);
    });

    it('reports an unknown table at its name', () => {
      assertError("import px\ndf = px.DataFrame(table='nope')", '2:25', /^unknown table 'nope'$/);
    });

    it('reports an unknown column at the column', () => {
      assertError(`${header}df = df[df.nope == 1]`, '3:12', /^unknown column 'nope'/);
      assertError(`${header}df = df[['req_path', 'nope']]`, '3:22', /^unknown column 'nope'/);
      assertError("import px\ndf = px.DataFrame('http_events', select=['time_', 'bogus'])", '2:51', /unknown column 'bogus' in table http_events/);
      assertError(`${header}df = df.drop(['nope'])`, '3:15', /unknown column 'nope'/);
    });

    it('reports a column of another DataFrame', () => {
      assertError(`${header}small = df[['req_path']]\nsmall = small[df.resp_status == 200]`, '4:15', /column 'resp_status' is not in this DataFrame/);
    });

    it('reports unknown names and functions', () => {
      assertError(`${header}df = foo(df)`, '3:6', /^name 'foo' is not defined$/);
      assertError("df = px.DataFrame('http_events')", '1:6', /name 'px' is not defined/);
      assertError(`${header}df = df[px.nope(df.req_path)]`, '3:12', /^px has no function 'nope'$/);
      assertError(`${header}df = df.nope`, '3:9', /^unknown column 'nope'/);
      assertError('import os', '1:8', /unknown module 'os'/);
    });

    it('reports wrong argument types and counts at the argument', () => {
      assertError(`${header}df = df.head('x')`, '3:14', /^head: n must be an int, got string constant$/);
      assertError(`${header}df = df[px.contains(df.req_path, 5)]`, '3:34', /^px.contains: argument 2 must be string, got int64$/);
      assertError("import px\ndf = px.DataFrame('http_events', start_time='yesterday')", '2:45', /^invalid time 'yesterday'/);
      assertError("import px\ndf = px.DataFrame('http_events', bogus=1)", '2:34', /has no argument 'bogus'/);
      assertError('import px\ndf = px.DataFrame()', '2:6', /missing argument 'table'/);
      assertError(`${header}px.display(df, 'a')\npx.display(df, 'a')`, '4:16', /output name 'a' is used twice/);
      assertError(`${header}px.display(5)`, '3:12', /expected a DataFrame/);
    });

    it('reports operand type mismatches, with a hint for & precedence', () => {
      assertError(`${header}df = df[df.req_method == 200]`, '3:9', /^unsupported operand types for '==': string and int64$/);
      assertError(`${header}df = df[df.resp_status == 200 & df.encrypted]`, '3:27', /comparisons bind more loosely than &/);
      assertError(`${header}df = df[df.resp_status]`, '3:9', /cannot index a DataFrame with int64/);
    });

    it('reports unsupported syntax', () => {
      assertError('import px\nclass A:\n  pass', '2:1', /^unsupported statement: class$/);
      assertError(`${header}x = f"{df}"`, '3:8', /^f-string: cannot format DataFrame$/);
      assertError(`${header}x = [a for a in df]`, '3:5', /unsupported syntax/);
    });

    it('formats as line:col: message', () => {
      assert.equal(compileError(`${header}df = df[df.nope == 1]`).toString().split(' (')[0], "3:12: unknown column 'nope'");
    });
  });
});
