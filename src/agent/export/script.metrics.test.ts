import assert from 'node:assert/strict';
import { describe, it } from 'mocha';
import { compileScript, executeLocal } from '../../query/index.ts';
import { httpRow, makeBatch, MemoryTableSource } from '../../query/arrow-batches.test-helper.ts';
import { defaultMetricPrefix, planScriptMetrics, ScriptMetrics } from './script.metrics.ts';

const rows = [
  httpRow({ time_: 1n, req_path: '/a', resp_status: 200n, resp_body_size: 10n, latency: 1000n }),
  httpRow({ time_: 2n, req_path: '/a', resp_status: 200n, resp_body_size: 30n, latency: 3000n }),
  httpRow({ time_: 3n, req_path: '/b "x"', resp_status: 404n, resp_body_size: 5n, latency: 500n, encrypted: true }),
];
const source = new MemoryTableSource({ http_events: [makeBatch(rows)] });

const BY_PATH = `import px
df = px.DataFrame(table='http_events')
df = df.groupby(['req_path', 'encrypted']).agg(requests=('latency', px.count), bytes=('resp_body_size', px.max), latency=('latency', px.mean))
px.display(df, 'by_path')
`;

function run(script: string, metrics: ScriptMetrics, from = source): ReturnType<ScriptMetrics['update']> {
  const compiled = compileScript(script, from, { nowNs: 10n });
  return metrics.update(executeLocal(compiled, from).outputs);
}

function served(metrics: ScriptMetrics): string[] {
  const lines: string[] = [];
  assert.deepEqual(metrics.renderPrometheus(lines, new Set()), []);
  return lines.filter((l) => !l.startsWith('#')).sort();
}

describe('ScriptMetrics', () => {
  describe('mapping a script output', () => {
    it('makes each int64/float64 column a gauge <prefix>_<column>, string and boolean columns labels', () => {
      const outputs = planScriptMetrics(compileScript(BY_PATH, source).outputs, 'checkout');
      assert.deepEqual(outputs, [{
        name: 'by_path', labels: ['req_path', 'encrypted'],
        values: [{ column: 'requests', family: 'checkout_requests' }, { column: 'bytes', family: 'checkout_bytes' }, { column: 'latency', family: 'checkout_latency' }],
      }]);
    });

    it('ignores time_ and refuses an output without a numeric column', () => {
      const script = "import px\ndf = px.DataFrame(table='http_events')\npx.display(df[['time_', 'req_path']], 'paths')";
      assert.throws(() => planScriptMetrics(compileScript(script, source).outputs, 'p'), /^Error: output paths has no numeric \(int64 or float64\) column to serve as a metric; columns: time_ time64ns, req_path string$/);
    });

    it('refuses two outputs feeding one family, a reserved label and a prefix Prometheus cannot name', () => {
      const two = `${BY_PATH}px.display(df, 'again')\n`;
      assert.throws(() => planScriptMetrics(compileScript(two, source).outputs, 'p'), /outputs by_path and again both produce metric p_requests/);
      const reserved = "import px\ndf = px.DataFrame(table='http_events')\ndf.__name__ = df.req_path\npx.display(df[['__name__', 'latency']])";
      assert.throws(() => planScriptMetrics(compileScript(reserved, source).outputs, 'p'), /label __name__ starts with __/);
      assert.throws(() => planScriptMetrics(compileScript(BY_PATH, source).outputs, '1bad-name'), /metric prefix "1bad-name" is not a Prometheus metric name/);
      const spaced = "import px\ndf = px.DataFrame(table='http_events')\ndf['a b'] = df.latency\npx.display(df[['req_path', 'a b']])";
      assert.throws(() => planScriptMetrics(compileScript(spaced, source).outputs, 'p'), /column "a b" cannot name a Prometheus label or metric/);
    });

    it('defaults the prefix to wisp_<pipeline name>', () => {
      assert.equal(defaultMetricPrefix('shop/errors-by-path.v2'), 'wisp_errors_by_path_v2');
    });
  });

  describe('serving runs', () => {
    it('serves exactly one series per label set and column, with the values of the run', () => {
      const metrics = new ScriptMetrics(planScriptMetrics(compileScript(BY_PATH, source).outputs, 'm'), { maxSeries: 100, pipeline: 'ns/m' });
      assert.deepEqual(run(BY_PATH, metrics), { rows: 2, overSeriesLimit: 0, duplicates: 0 });
      assert.deepEqual(served(metrics), [
        'm_bytes{req_path="/a",encrypted="false"} 30',
        'm_bytes{req_path="/b \\"x\\"",encrypted="true"} 5',
        'm_latency{req_path="/a",encrypted="false"} 2000',
        'm_latency{req_path="/b \\"x\\"",encrypted="true"} 500',
        'm_requests{req_path="/a",encrypted="false"} 2',
        'm_requests{req_path="/b \\"x\\"",encrypted="true"} 1',
      ]);
      const lines: string[] = [];
      metrics.renderPrometheus(lines, new Set());
      assert.ok(lines.includes('# TYPE m_requests gauge'));
      assert.ok(lines.includes('# HELP m_requests Column requests of output by_path of the script of ExportPipeline ns/m.'));
    });

    it('replaces the served series with each run (a series the run did not produce goes)', () => {
      const metrics = new ScriptMetrics(planScriptMetrics(compileScript(BY_PATH, source).outputs, 'm'), { maxSeries: 100, pipeline: 'ns/m' });
      run(BY_PATH, metrics);
      const later = new MemoryTableSource({ http_events: [makeBatch([httpRow({ time_: 5n, req_path: '/c', resp_body_size: 7n, latency: 70n })])] });
      run(BY_PATH, metrics, later);
      assert.deepEqual(served(metrics), ['m_bytes{req_path="/c",encrypted="false"} 7', 'm_latency{req_path="/c",encrypted="false"} 70', 'm_requests{req_path="/c",encrypted="false"} 1']);
      run(BY_PATH, metrics, new MemoryTableSource({}));
      assert.deepEqual(served(metrics), []);
    });

    it('counts rows past the series bound and rows whose labels repeat, serving the later row', () => {
      const perRow = "import px\ndf = px.DataFrame(table='http_events')\npx.display(df[['req_path', 'resp_body_size']])";
      const metrics = new ScriptMetrics(planScriptMetrics(compileScript(perRow, source).outputs, 'r'), { maxSeries: 1, pipeline: 'ns/r' });
      assert.deepEqual(run(perRow, metrics), { rows: 3, overSeriesLimit: 1, duplicates: 1 });
      assert.deepEqual(served(metrics), ['r_resp_body_size{req_path="/a"} 30']);
      assert.equal(metrics.seriesCount, 1);
    });

    it('leaves out, and reports, a family already in the scrape', () => {
      const metrics = new ScriptMetrics(planScriptMetrics(compileScript(BY_PATH, source).outputs, 'm'), { maxSeries: 100, pipeline: 'ns/m' });
      run(BY_PATH, metrics);
      const lines: string[] = [];
      assert.deepEqual(metrics.renderPrometheus(lines, new Set(['m_bytes'])), ['m_bytes']);
      assert.ok(!lines.some((l) => l.startsWith('m_bytes')));
      assert.ok(lines.some((l) => l.startsWith('m_requests')));
    });
  });
});
