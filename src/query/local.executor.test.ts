import assert from 'node:assert/strict';
import { DataType, type RecordBatch, type Table } from 'apache-arrow';
import { httpRow, makeBatch, MemoryTableSource, type Row } from './arrow-batches.test-helper.ts';
import { compileScript, executeLocal, resultToJson, type CompiledQuery, type ExecuteOptions, type QueryResult } from './index.ts';

const NOW_NS = 1_000_000n;

/** Six requests over three batches, in time order. */
const rows: readonly Row[] = [
  httpRow({ time_: 100n, req_method: 'GET', req_path: '/a', resp_status: 200n, latency: 1_500n, encrypted: true }),
  httpRow({ time_: 200n, req_method: 'POST', req_path: '/b', resp_status: 201n, latency: 3_000n }),
  httpRow({ time_: 300n, req_method: 'GET', req_path: '/c', resp_status: 404n, latency: 500n }),
  httpRow({ time_: 400n, req_method: 'DELETE', req_path: '/a', resp_status: 500n, latency: 9_000n, encrypted: true }),
  httpRow({ time_: 500n, req_method: 'GET', req_path: '/b', resp_status: 200n, latency: 2_000n }),
  httpRow({ time_: 600n, req_method: 'PUT', req_path: '/c', resp_status: 200n, latency: 700n }),
];

function source(batches: readonly RecordBatch[] = [makeBatch(rows.slice(0, 2)), makeBatch(rows.slice(2, 4)), makeBatch(rows.slice(4))]): MemoryTableSource {
  return new MemoryTableSource({ http_events: batches });
}

function run(body: string, options: ExecuteOptions = {}, tables = source()): QueryResult {
  const compiled = compileScript(`import px\ndf = px.DataFrame('http_events', start_time=0)\n${body}`, tables, { nowNs: NOW_NS });
  return executeLocal(compiled, tables, options);
}

function column(table: Table, name: string): unknown[] {
  const vector = table.getChild(name);
  assert.ok(vector, `column ${name}`);
  return [...vector.toArray()].map((v: unknown) => (typeof v === 'bigint' ? Number(v) : v));
}

function single(result: QueryResult): Table {
  assert.equal(result.outputs.length, 1);
  return (result.outputs[0] as { table: Table }).table;
}

describe('executeLocal', () => {
  describe('with a filter on int and dictionary-encoded string columns', () => {
    const table = single(run("df = df[(df.resp_status == 200) & (df.req_method == 'GET')]\npx.display(df)"));

    it('keeps the matching rows across batches, in store order', () => {
      assert.deepEqual(column(table, 'req_path'), ['/a', '/b']);
    });

    it('keeps the Arrow types of the store', () => {
      const types = Object.fromEntries(table.schema.fields.map((f) => [f.name, f.type]));
      assert.ok(DataType.isTimestamp(types.time_), 'time_ is a timestamp');
      assert.equal(String(types.time_), 'Timestamp<NANOSECOND>');
      assert.ok(DataType.isInt(types.resp_status) && types.resp_status.bitWidth === 64, 'resp_status is Int64');
      assert.ok(DataType.isDictionary(types.req_method), 'req_method stays dictionary-encoded');
      assert.ok(DataType.isUtf8(types.req_path), 'req_path stays plain Utf8');
      assert.equal(table.schema.fields.length, 22);
    });
  });

  describe('comparisons', () => {
    const paths = (filter: string): unknown[] => column(single(run(`df = df[${filter}]\npx.display(df)`)), 'req_path');

    it('compares dictionary-encoded strings with ==, !=, < and px.contains', () => {
      assert.deepEqual(paths("df.req_method == 'GET'"), ['/a', '/c', '/b']);
      assert.deepEqual(paths("df.req_method != 'GET'"), ['/b', '/a', '/c']);
      assert.deepEqual(paths("df.req_method < 'P'"), ['/a', '/c', '/a', '/b']);
      assert.deepEqual(paths("px.contains(df.req_method, 'OS')"), ['/b']);
      assert.deepEqual(paths("'GET' == df.req_method"), ['/a', '/c', '/b']);
      assert.deepEqual(paths("df.req_method == 'PATCH'"), []);
    });

    it('compares plain strings', () => {
      assert.deepEqual(paths("df.req_path == '/a'"), ['/a', '/a']);
      assert.deepEqual(paths("df.req_path >= '/b'"), ['/b', '/c', '/b', '/c']);
    });

    it('compares ints both ways round, and combines with | ~ and or not', () => {
      assert.deepEqual(paths('df.resp_status >= 400'), ['/c', '/a']);
      assert.deepEqual(paths('400 <= df.resp_status'), ['/c', '/a']);
      assert.deepEqual(paths('(df.latency < 1000) | (df.latency > 5000)'), ['/c', '/a', '/c']);
      assert.deepEqual(paths('~(df.resp_status == 200)'), ['/b', '/c', '/a']);
      assert.deepEqual(paths('not df.resp_status == 200 and df.latency > 1000'), ['/b', '/a']);
      assert.deepEqual(paths('200 < df.resp_status < 500'), ['/b', '/c']);
    });

    it('filters on boolean columns and time_', () => {
      assert.deepEqual(paths('df.encrypted'), ['/a', '/a']);
      assert.deepEqual(paths('df.encrypted == False'), ['/b', '/c', '/b', '/c']);
      assert.deepEqual(paths('df.time_ > 450'), ['/b', '/c']);
    });

    it('compares float columns with int literals', () => {
      assert.deepEqual(paths('df.latency / 1000 > 2.5'), ['/b', '/a']);
      assert.deepEqual(paths('df.latency / 1000 == 2'), ['/b']);
    });
  });

  describe('time range', () => {
    function times(start: string, end: string): unknown[] {
      const tables = source();
      const compiled = compileScript(`import px\ndf = px.DataFrame('http_events', start_time=${start}, end_time=${end})\npx.display(df)`, tables, { nowNs: NOW_NS });
      return column(single(executeLocal(compiled, tables)), 'time_');
    }

    it('keeps rows with start <= time_ < end, across batch boundaries', () => {
      assert.deepEqual(times('200', '500'), [200, 300, 400]);
    });

    it('reads relative times against now', () => {
      const tables = source();
      const compiled = compileScript("import px\ndf = px.DataFrame('http_events', start_time='-999700ns')\npx.display(df)", tables, { nowNs: NOW_NS });
      assert.deepEqual(column(single(executeLocal(compiled, tables)), 'req_path'), ['/c', '/a', '/b', '/c']);
      assert.deepEqual(tables.scans, [{ table: 'http_events', startNs: 300n, endNs: NOW_NS }]);
    });

    it('returns an empty table with the output schema when nothing is in range', () => {
      const tables = source();
      const compiled = compileScript("import px\ndf = px.DataFrame('http_events', start_time=700, end_time=800)\npx.display(df[['req_path']])", tables, { nowNs: NOW_NS });
      const table = single(executeLocal(compiled, tables));
      assert.equal(table.numRows, 0);
      assert.deepEqual(table.schema.fields.map((f) => f.name), ['req_path']);
    });
  });

  describe('head', () => {
    it('takes the first n rows across several batches', () => {
      const table = single(run('px.display(df.head(3))'));
      assert.deepEqual(column(table, 'req_path'), ['/a', '/b', '/c']);
    });

    it('applies after a filter, 5 rows by default', () => {
      assert.deepEqual(column(single(run("px.display(df[df.req_method != 'GET'].head(2))")), 'req_path'), ['/b', '/a']);
      assert.equal(single(run('px.display(df.head())')).numRows, 5);
      assert.equal(single(run('px.display(df.head(0))')).numRows, 0);
    });

    it('filters after head over the first n rows only', () => {
      assert.deepEqual(column(single(run("df = df.head(3)\npx.display(df[df.req_method == 'GET'])")), 'req_path'), ['/a', '/c']);
    });
  });

  describe('computed columns', () => {
    const table = single(run([
      "df = df[['time_', 'req_method', 'resp_status', 'latency']]",
      'df.latency_us = df.latency / 1000',
      'df.class = df.resp_status - df.resp_status % 100',
      'df.failed = df.resp_status >= 400',
      'df.method = px.tolower(df.req_method)',
      "df['later'] = df.time_ + px.nanoseconds(5)",
      'df.one = 1',
      'df = df.drop(["req_method", "latency"])',
      'px.display(df)',
    ].join('\n')));

    it('computes them column-at-a-time', () => {
      assert.deepEqual(column(table, 'latency_us'), [1.5, 3, 0.5, 9, 2, 0.7]);
      assert.deepEqual(column(table, 'class'), [200, 200, 400, 500, 200, 200]);
      assert.deepEqual(column(table, 'failed'), [false, false, true, true, false, false]);
      assert.deepEqual(column(table, 'method'), ['get', 'post', 'get', 'delete', 'get', 'put']);
      assert.deepEqual(column(table, 'one'), [1, 1, 1, 1, 1, 1]);
    });

    it('gives them inferred types and keeps the order of assignment', () => {
      assert.deepEqual(
        table.schema.fields.map((f) => `${f.name}:${f.metadata.get('wisp.type')}`),
        ['time_:time64ns', 'resp_status:int64', 'latency_us:float64', 'class:int64', 'failed:boolean', 'method:string', 'later:time64ns', 'one:int64'],
      );
    });

    it('turns x % 0 into 0 instead of failing the query', () => {
      assert.deepEqual(column(single(run('df.z = df.latency % (df.resp_status - df.resp_status)\npx.display(df[["z"]])')), 'z'), [0, 0, 0, 0, 0, 0]);
    });
  });

  describe('outputs', () => {
    it('runs every px.display', () => {
      const result = run("px.display(df[df.resp_status == 200], 'ok')\npx.display(df[df.resp_status != 200][['req_path']], 'failed')");
      assert.deepEqual(result.outputs.map((o) => [o.name, o.table.numRows]), [['ok', 3], ['failed', 3]]);
    });

    it('has none when the script displays nothing', () => {
      assert.deepEqual(run('df = df.head(1)').outputs, []);
    });

    it('cuts at maxOutputRows and says so', () => {
      const cut = run('px.display(df)', { maxOutputRows: 3 }).outputs[0];
      assert.equal(cut?.table.numRows, 3);
      assert.equal(cut?.truncated, true);
      const exact = run('px.display(df)', { maxOutputRows: 6 }).outputs[0];
      assert.equal(exact?.truncated, false);
      const batchEdge = run('px.display(df)', { maxOutputRows: 4 }).outputs[0];
      assert.deepEqual([batchEdge?.table.numRows, batchEdge?.truncated], [4, true]);
    });

    it('runs a compiled query that went through JSON', () => {
      const tables = source();
      const compiled = compileScript("import px\ndf = px.DataFrame('http_events', start_time=0)\ndf.x = df.latency * 2\npx.display(df[df.x > 3000][['req_path', 'x']])", tables, { nowNs: NOW_NS });
      const shipped = JSON.parse(JSON.stringify(compiled)) as CompiledQuery;
      assert.deepEqual(resultToJson(executeLocal(shipped, tables)), resultToJson(executeLocal(compiled, tables)));
      assert.deepEqual(column(single(executeLocal(shipped, tables)), 'x'), [6000, 18000, 4000]);
    });
  });

  describe('with sliced batches (non-zero Arrow offsets)', () => {
    it('reads the right rows of every column type', () => {
      const whole = makeBatch(rows);
      const table = single(run('df = df[df.encrypted | (df.req_method == "PUT")]\npx.display(df[["req_path", "req_method", "encrypted", "time_"]])', {}, source([whole.slice(1, 4), whole.slice(4, 6)])));
      assert.deepEqual(column(table, 'req_path'), ['/a', '/c']);
      assert.deepEqual(column(table, 'req_method'), ['DELETE', 'PUT']);
      assert.deepEqual(column(table, 'encrypted'), [true, false]);
    });
  });
});

describe('resultToJson', () => {
  it('shapes outputs as named columns with Wisp types and row arrays', () => {
    const result = run([
      "df = df[df.req_path == '/a'][['time_', 'upid', 'req_method', 'resp_status', 'encrypted']]",
      'df.ms = df.resp_status / 8',
      "px.display(df, 'a')",
    ].join('\n'));
    assert.deepEqual(resultToJson(result), {
      outputs: [{
        name: 'a',
        columns: [
          { name: 'time_', type: 'time64ns' }, { name: 'upid', type: 'uint128' }, { name: 'req_method', type: 'string' },
          { name: 'resp_status', type: 'int64' }, { name: 'encrypted', type: 'boolean' }, { name: 'ms', type: 'float64' },
        ],
        rows: [
          ['1970-01-01T00:00:00.000000100Z', '00000001-0000-0002-0000-000000000003', 'GET', 200, true, 25],
          ['1970-01-01T00:00:00.000000400Z', '00000001-0000-0002-0000-000000000003', 'DELETE', 500, true, 62.5],
        ],
        truncated: false,
      }],
    });
  });

  it('formats times with ns precision in UTC', () => {
    const tables = new MemoryTableSource({ http_events: [makeBatch([httpRow({ time_: 1_795_266_550_123_456_789n })])] });
    const compiled = compileScript("import px\npx.display(px.DataFrame('http_events', start_time=0, end_time=2000000000000000000)[['time_']])", tables);
    assert.deepEqual(resultToJson(executeLocal(compiled, tables)).outputs[0]?.rows, [['2026-11-21T13:09:10.123456789Z']]);
  });
});
