import assert from 'node:assert/strict';
import { httpRow, makeBatch, MemoryTableSource, type Row } from './arrow-batches.test-helper.ts';
import {
  compileScript, executeLocal, executeOverSources, QueryError, resultToJson, TDigest,
  type ExecuteOptions, type JsonOutput, type MetadataResolver,
} from './index.ts';

const NOW_NS = 1_000_000_000_000n;
const SECOND_NS = 1_000_000_000n;
const UPID_A = '00000001-0000-0064-0000-000000000003'; // pid 100
const UPID_B = '00000001-0000-00c8-0000-000000000004'; // pid 200

/** 60 requests over 3 services, statuses and latencies chosen so every aggregate has an exact answer. */
function generatedRows(): Row[] {
  const rows: Row[] = [];
  for (let i = 0; i < 60; i++) {
    rows.push(httpRow({
      time_: BigInt(i) * SECOND_NS,
      upid: i % 2 === 0 ? UPID_A : UPID_B,
      req_method: ['GET', 'POST', 'PUT'][i % 3],
      req_path: `/svc${i % 3}/item/${i}`,
      resp_status: i % 10 === 0 ? 500n : 200n,
      latency: BigInt((i + 1) * 1000),
      resp_body: i % 3 === 0 ? '{"n": 1, "name": "x"}' : '{"n": 2.5}',
    }));
  }
  return rows;
}

function sourceOf(rows: readonly Row[], batchRows = 7): MemoryTableSource {
  const batches = [];
  for (let i = 0; i < rows.length; i += batchRows) batches.push(makeBatch(rows.slice(i, i + batchRows)));
  return new MemoryTableSource({ http_events: batches });
}

const header = "import px\ndf = px.DataFrame('http_events', start_time=0)\n";

function runJson(script: string, source = sourceOf(generatedRows()), options: ExecuteOptions = {}): JsonOutput[] {
  const compiled = compileScript(script, source, { nowNs: NOW_NS });
  return [...resultToJson(executeLocal(compiled, source, options)).outputs];
}

function rowsOf(script: string, options: ExecuteOptions = {}): unknown[][] {
  const outputs = runJson(`${header}${script}`, undefined, options);
  assert.equal(outputs.length, 1);
  return [...(outputs[0] as JsonOutput).rows];
}

function compileError(script: string): QueryError {
  try {
    compileScript(script, sourceOf([]), { nowNs: NOW_NS });
  } catch (error) {
    assert.ok(error instanceof QueryError, String(error));
    return error;
  }
  assert.fail('expected a QueryError');
}

describe('PxL language', () => {
  describe('groupby().agg()', () => {
    it('counts, sums, averages and finds extremes per group', () => {
      const rows = rowsOf(`df = df.groupby('req_method').agg(n=('latency', px.count), total=('latency', px.sum), avg=('latency', px.mean),
  lo=('latency', px.min), hi=('latency', px.max), errors=('resp_status', px.max))
px.display(df)`);
      // GET: i = 0, 3, …, 57 → latency (i+1)·1000.
      assert.deepEqual(rows, [
        ['GET', 20, 590_000, 29_500, 1000, 58_000, 500],
        ['POST', 20, 610_000, 30_500, 2000, 59_000, 500],
        ['PUT', 20, 630_000, 31_500, 3000, 60_000, 500],
      ]);
    });

    it('groups by several columns, and agg() gives the distinct groups', () => {
      const rows = rowsOf("df = df.groupby(['req_method', 'resp_status']).agg()\npx.display(df)");
      assert.deepEqual(rows, [['GET', 500], ['POST', 200], ['PUT', 200], ['GET', 200], ['POST', 500], ['PUT', 500]]);
    });

    it('averages booleans (error rates) and aggregates without groups', () => {
      const rows = rowsOf(`df.failure = df.resp_status >= 400
df = df.agg(error_rate=('failure', px.mean), n=('failure', px.count), upid=('upid', px.any))
px.display(df)`);
      assert.deepEqual(rows, [[0.1, 60, UPID_A]]);
    });

    it('reports quantiles as JSON read with px.pluck_float64', () => {
      const rows = rowsOf(`df = df.groupby('req_method').agg(q=('latency', px.quantiles))
df.p50 = px.pluck_float64(df.q, 'p50')
df.p99 = px.pluck_float64(df.q, 'p99')
df = df[['req_method', 'p50', 'p99']]
px.display(df)`);
      // 20 values 1000..58000 step 3000: p50 interpolates ranks 9 and 10, p99 is the largest.
      assert.deepEqual(rows[0], ['GET', 29_500, 58_000]);
      const json = rowsOf("df = df.agg(q=('latency', px.quantiles))\npx.display(df)")[0]?.[0] as string;
      assert.deepEqual(Object.keys(JSON.parse(json) as object), ['p01', 'p10', 'p25', 'p50', 'p75', 'p90', 'p99']);
    });

    it('groups by time windows with px.bin', () => {
      const rows = rowsOf(`df.window = px.bin(df.time_, px.seconds(20))
df = df.groupby('window').agg(n=('latency', px.count))
px.display(df)`);
      assert.deepEqual(rows.map((r) => r[1]), [20, 20, 20]);
      assert.equal(rows[1]?.[0], '1970-01-01T00:00:20.000000000Z');
    });

    it('splits into node partials and a merge that equal aggregating all rows at once', () => {
      const script = `${header}df.failure = df.resp_status >= 400
df.window = px.bin(df.time_, px.seconds(10))
df = df.groupby(['req_method', 'window']).agg(n=('latency', px.count), total=('latency', px.sum), avg=('latency', px.mean),
  lo=('latency', px.min), hi=('latency', px.max), errors=('failure', px.mean), q=('latency', px.quantiles), any=('req_method', px.any))
df.p90 = px.pluck_float64(df.q, 'p90')
px.display(df)`;
      const rows = generatedRows();
      const whole = sourceOf(rows);
      const compiled = compileScript(script, whole, { nowNs: NOW_NS });
      const output = compiled.outputs[0];
      assert.equal(output?.nodeFragment.op, 'aggregate');
      assert.equal(output?.nodeFragment.op === 'aggregate' ? output.nodeFragment.mode : '', 'partial');
      // Three nodes with disjoint, interleaved rows.
      const disjoint = [0, 1, 2].map((k) => sourceOf(rows.filter((_r, i) => (i % 5) % 3 === k), 4));
      const split = resultToJson(executeOverSources(compiled, disjoint)).outputs[0];
      const single = resultToJson(executeLocal(compiled, whole)).outputs[0];
      const sorted = (out: JsonOutput | undefined): string[] => (out?.rows ?? []).map((r) => JSON.stringify(r)).sort();
      assert.equal(single?.rows.length, 18);
      assert.deepEqual(sorted(split), sorted(single));
    });

    it('refuses aggregates of the wrong type and unknown aggregate functions', () => {
      const error = compileError(`${header}df = df.groupby('req_method').agg(x=('req_path', px.mean))`);
      assert.equal(`${error.line}:${error.column}`, '3:38');
      assert.match(error.message, /px.mean does not take a string column/);
      assert.match(compileError(`${header}df = df.groupby('req_method').agg(x=('latency', px.contains))`).message, /expected an aggregate function/);
      assert.match(compileError(`${header}df = df.groupby('nope').agg()`).message, /unknown column 'nope'/);
    });
  });

  describe('t-digest', () => {
    it('stays within 1 % of the exact quantiles for 100 000 points and merges', () => {
      const whole = new TDigest();
      const parts = [new TDigest(), new TDigest(), new TDigest()];
      for (let i = 0; i < 100_000; i++) {
        const value = (i * 7919) % 100_000;
        whole.add(value);
        (parts[i % 3] as TDigest).add(value);
      }
      const merged = new TDigest();
      for (const part of parts) merged.merge(TDigest.deserialize(part.serialize()));
      for (const q of [0.01, 0.1, 0.5, 0.9, 0.99]) {
        assert.ok(Math.abs(whole.quantile(q) - q * 100_000) < 1000, `whole p${q}: ${whole.quantile(q)}`);
        assert.ok(Math.abs(merged.quantile(q) - q * 100_000) < 1000, `merged p${q}: ${merged.quantile(q)}`);
      }
      assert.equal(merged.count, 100_000);
    });
  });

  describe('functions', () => {
    const one = (expr: string): unknown => rowsOf(`df = df.head(1)\ndf.x = ${expr}\ndf = df[['x']]\npx.display(df)`)[0]?.[0];

    it('computes string functions', () => {
      assert.equal(one("px.substring(df.req_path, 1, 4)"), 'svc0');
      assert.equal(one("px.length(df.req_path)"), 12);
      assert.equal(one("px.toupper(px.trim('  ab '))"), 'AB');
      assert.equal(one("px.replace('[0-9]+', df.req_path, 'N')"), '/svcN/item/N');
      assert.equal(one("px.regex_match('/svc[0-9]/.*', df.req_path)"), true);
      assert.equal(one("px.regex_match('svc', df.req_path)"), false);
      assert.equal(one("px.contains(df.req_path, 'item')"), true);
      assert.equal(one("px.atoi('42') + 1"), 43);
      assert.equal(one("px.itoa(df.resp_status)"), '500');
    });

    it('plucks JSON fields', () => {
      assert.equal(one("px.pluck(df.resp_body, 'name')"), 'x');
      assert.equal(one("px.pluck_int64(df.resp_body, 'n')"), 1);
      assert.equal(one("px.pluck_float64('{\"n\": 2.5}', 'n')"), 2.5);
      assert.equal(one("px.pluck(df.resp_body, 'missing')"), '');
    });

    it('computes math, select and equals_any', () => {
      assert.equal(one('px.floor(2.7)'), 2);
      assert.equal(one('px.ceil(2.1)'), 3);
      assert.equal(one('px.round(2.5)'), 3);
      assert.equal(one('px.round(2.345, 2)'), '2.35');
      assert.equal(one('px.abs(-5)'), 5);
      assert.equal(one('px.sqrt(16)'), 4);
      assert.equal(one('px.log(1)'), 0);
      assert.equal(one("px.select(df.resp_status >= 400, 'error', 'ok')"), 'error');
      assert.equal(one('px.select(df.resp_status < 400, df.latency, 0)'), 0);
      assert.equal(one("px.equals_any(df.req_method, ['PUT', 'GET'])"), true);
    });

    it('computes times, durations and upids', () => {
      assert.equal(one('px.bin(1234, 100)'), 1200);
      assert.equal(one('px.bin(-1, 100)'), -100);
      assert.equal(one('px.minutes(2) + px.seconds(1) + px.hours(0)'), 121_000_000_000);
      assert.equal(one('px.DurationNanos(5)'), 5);
      assert.equal(one("px.parse_duration('-5m')"), -300_000_000_000);
      assert.equal(one('px.time_to_int64(df.time_)'), 0);
      assert.equal(one('px.int64_to_time(1000000000)'), '1970-01-01T00:00:01.000000000Z');
      assert.equal(one('px.upid_to_pid(df.upid)'), 100);
      assert.equal(one("df.ctx['pid']"), 100);
    });

    it('parses and recomposes URIs and makes script references', () => {
      assert.deepEqual(JSON.parse(one("px.uri_parse('https://u@h.example:8443/p/q?a=1#f')") as string),
        { scheme: 'https', userinfo: 'u', host: 'h.example', port: 8443, path: '/p/q', query: 'a=1', fragment: 'f' });
      assert.equal(one("px.uri_recompose('http', '', 'h', 80, '/x', 'a=1', '')"), 'http://h:80/x?a=1');
      assert.deepEqual(JSON.parse(one("px.script_reference('svc', 'px/service', {'start_time': '-5m', 'svc': df.req_method})") as string),
        { label: 'svc', script: 'px/service', args: { start_time: '-5m', svc: 'GET' } });
    });

    it('resolves Kubernetes context through the MetadataResolver', () => {
      const resolver: MetadataResolver = {
        upid: (upid, property) => (property === 'pod_name' ? `ns/pod-${upid.slice(-1)}` : property === 'namespace' ? 'ns' : ''),
        podId: () => '', podName: (pod, property) => (property === 'namespace' ? pod.split('/')[0] ?? '' : ''), ip: () => '', serviceId: () => '',
      };
      const script = `df.pod = df.ctx['pod']\ndf.ns = px.pod_name_to_namespace(df.pod)\ndf = df.groupby(['pod', 'ns']).agg(n=('latency', px.count))\npx.display(df)`;
      assert.deepEqual(rowsOf(script, { metadata: resolver }), [['ns/pod-3', 'ns', 30], ['ns/pod-4', 'ns', 30]]);
      assert.deepEqual(rowsOf(script), [['', '', 60]], 'the default resolver knows nothing');
    });

    it('refuses unknown functions and wrong types with line:column', () => {
      let error = compileError(`${header}df.x = px.substring(df.req_path, 'a', 2)`);
      assert.equal(`${error.line}:${error.column}`, '3:34');
      error = compileError(`${header}df.x = px.upid_to_nothing(df.upid)`);
      assert.match(error.message, /px has no function 'upid_to_nothing'/);
      error = compileError(`${header}df.x = df.ctx['planet']`);
      assert.match(error.message, /unknown ctx key 'planet'/);
    });
  });

  describe('user functions and values', () => {
    it('calls functions with defaults, keywords, annotations, docstrings, locals and calls between them', () => {
      const outputs = runJson(`import px

def errors(df, threshold: int = 400):
    """Rows that failed."""
    failed = df.resp_status >= threshold
    return df[failed]

def stats(start_time: str, by='req_method', limit=10) -> px.DataFrame:
    df = px.DataFrame(table='http_events', start_time=start_time)
    df = errors(df, threshold=500)
    df = df.groupby(by).agg(n=('latency', px.count))
    return df.head(limit)

settings = {'start': 0}
names = ('errors', 'all')
px.display(stats(settings['start']), f"{names[0]}")
`);
      assert.equal(outputs[0]?.name, 'errors');
      assert.deepEqual(outputs[0]?.rows, [['GET', 2], ['POST', 2], ['PUT', 2]]);
    });

    it('evaluates f-strings, dicts, tuples and if on constants', () => {
      const outputs = runJson(`import px
n = 2
label = f"top{n}-{'x'}"
cfg = {'limit': 3}
def pick(flag):
    if flag:
        return 'yes'
    else:
        return 'no'
df = px.DataFrame('http_events', start_time=0)
df.tag = f"{df.req_method}:{pick(True)}"
px.display(df[['tag']].head(1), label)
`);
      assert.equal(outputs[0]?.name, 'top2-x');
      assert.deepEqual(outputs[0]?.rows, [['GET:yes']]);
    });

    it('refuses runaway recursion and bad calls with line:column', () => {
      let error = compileError('import px\ndef f(x):\n    return f(x)\nf(1)');
      assert.match(error.message, /nested more than 64 deep/);
      error = compileError('import px\ndef f(x, y=1):\n    return x\nf(y=2)');
      assert.equal(`${error.line}:${error.column}`, '4:1');
      assert.match(error.message, /missing argument 'x'/);
      error = compileError('import px\ndef f(x):\n    return x\nf(1, 2)');
      assert.match(error.message, /takes at most 1 argument/);
      error = compileError('import px\nreturn 1');
      assert.match(error.message, /'return' outside function/);
    });

    it('applies #px:set max_output_rows_per_table to every output', () => {
      const outputs = runJson(`#px:set max_output_rows_per_table=4
import px
df = px.DataFrame('http_events', start_time=0)
px.display(df[['req_path']], 'a')
px.display(df[['latency']], 'b')
`);
      assert.deepEqual(outputs.map((o) => [o.name, o.rows.length, o.truncated]), [['a', 4, true], ['b', 4, true]]);
    });
  });

  describe('merge and append', () => {
    const script = (how: string): string => `${header}a = df.groupby('req_method').agg(n=('latency', px.count))
b = df[df.resp_status >= 400]
b = b.groupby('req_method').agg(n=('latency', px.count))
b = b[b.req_method != 'PUT']
c = px.DataFrame('http_events', start_time=0)
c = c.groupby('req_path').agg(hi=('latency', px.max))
c = c[c.req_path == '/svc2/item/59']
c.req_method = 'DELETE'
c.n = 1
c = c[['req_method', 'n']]
b = b.append(c)
m = a.merge(b, how='${how}', left_on='req_method', right_on=['req_method'], suffixes=['', '_err'])
px.display(m)`;

    it('joins inner, left, right and outer on typed keys with suffixes', () => {
      assert.deepEqual(rowsOf(script('inner').split(header)[1] as string), [['GET', 20, 'GET', 2], ['POST', 20, 'POST', 2]]);
      assert.deepEqual(rowsOf(script('left').split(header)[1] as string), [['GET', 20, 'GET', 2], ['POST', 20, 'POST', 2], ['PUT', 20, '', 0]]);
      assert.deepEqual(rowsOf(script('right').split(header)[1] as string), [['GET', 20, 'GET', 2], ['POST', 20, 'POST', 2], ['DELETE', 0, 'DELETE', 1]]);
      assert.deepEqual(rowsOf(script('outer').split(header)[1] as string).length, 4);
    });

    it('names clashing columns with the suffixes and puts joins in the merge fragment', () => {
      const compiled = compileScript(script('inner'), sourceOf([]), { nowNs: NOW_NS });
      const output = compiled.outputs[0];
      assert.deepEqual(output?.columns.map((c) => c.name), ['req_method', 'n', 'req_method_err', 'n_err']);
      assert.equal(output?.mergeFragment.input.op, 'join');
      assert.equal(output?.nodeFragments.length, 3);
    });

    it('appends rows and refuses different columns', () => {
      assert.deepEqual(rowsOf("a = df[df.latency < 2001][['req_path']]\nb = df[df.latency > 59999][['req_path']]\npx.display(a.append(b))"),
        [['/svc0/item/0'], ['/svc1/item/1'], ['/svc2/item/59']]);
      assert.match(compileError(`${header}px.display(df.append(df[['req_path']]))`).message, /same columns/);
      assert.match(compileError(`${header}px.display(df.merge(df, how='sideways', left_on='upid', right_on='upid'))`).message, /how must be/);
    });
  });
});
