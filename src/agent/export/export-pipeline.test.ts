import assert from 'node:assert/strict';
import type { RecordBatch } from 'apache-arrow';
import { afterEach, describe, it } from 'mocha';
import { pino } from 'pino';
import type { PlanExport } from '../../common/agent-plan.ts';
import { httpRow, makeBatch, MemoryTableSource } from '../../query/arrow-batches.test-helper.ts';
import { ExportPipeline } from './export-pipeline.ts';
import { encodeResource } from './otlp.encoding.ts';

/** A store stand-in whose http_events gains batches as the test appends them. */
class GrowingSource extends MemoryTableSource {
  readonly batches: RecordBatch[] = [];

  override scan(table: string): readonly RecordBatch[] {
    return table === 'http_events' ? this.batches : [];
  }
}

const statusRows = (statuses: readonly number[], t0: number) =>
  makeBatch(statuses.map((status, i) => httpRow({ time_: BigInt(t0 + i), resp_status: BigInt(status), req_path: `/s${status}` })));

// An OTLP endpoint nobody is asked to reach: batches wait for a timeout far beyond the test.
const otlp = { otlp: { endpoint: '127.0.0.1:9', protocol: 'grpc', insecure: true } };

function plan(source: PlanExport['source'], destination: PlanExport['destination'] = otlp): PlanExport {
  return { key: 'ns/p', source, intervalMs: 3_600_000, destination, batch: { timeoutMs: 3_600_000 }, queue: {}, retry: {}, overflow: 'dropOldest' };
}

const pipelines: ExportPipeline[] = [];
function pipeline(p: PlanExport, source: MemoryTableSource): ExportPipeline {
  const created = new ExportPipeline({
    plan: p, source, resources: { resource: () => new Uint8Array() }, agentResource: encodeResource({ 'service.name': 'test' }),
    log: pino({ level: 'silent' }), nowNs: () => 1_000n,
  });
  pipelines.push(created);
  return created;
}

describe('ExportPipeline', () => {
  afterEach(async () => {
    for (const p of pipelines.splice(0)) await p.stop(0);
  });

  describe('with a table source and a filter', () => {
    it('queues only the rows the filter keeps, reads each row once, and accounts read = exported + dropped + queued', () => {
      const source = new GrowingSource({});
      const p = pipeline(plan({ table: 'http_events', filter: 'resp_status >= 500' }), source);
      source.batches.push(statusRows([200, 500, 404, 503], 0));
      p.read();
      let s = p.snapshot();
      assert.equal(s.lastError, undefined);
      assert.deepEqual([s.rowsRead, s.rowsFiltered, s.queuedItems, s.itemsExported], [2, 2, 2, 0]);
      p.read();
      s = p.snapshot();
      assert.deepEqual([s.rowsRead, s.rowsFiltered, s.queuedItems], [2, 2, 2], 'nothing read twice');
      source.batches.push(statusRows([502, 200], 10), statusRows([], 20));
      p.read();
      s = p.snapshot();
      assert.deepEqual([s.rowsRead, s.rowsFiltered, s.queuedItems], [3, 3, 3]);
      assert.equal(s.rowsRead, s.itemsExported + Object.values(s.dropped).reduce((a, b) => a + b, 0) + s.queuedItems);
    });

    it('with overflow block, reads only as many rows as the queue has room for; the rest wait, unread', () => {
      const source = new GrowingSource({});
      const p = pipeline({ ...plan({ table: 'http_events', filter: 'resp_status >= 500' }), overflow: 'block', batch: { maxItems: 1, timeoutMs: 3_600_000 }, queue: { maxItems: 2 } }, source);
      source.batches.push(statusRows([200, 500, 503, 502], 0));
      p.read();
      let s = p.snapshot();
      // Room for 2 rows: 200 and 500 are read, 500 kept. Then room for 1: 503. Then none: 502 waits in its table.
      assert.deepEqual([s.rowsRead, s.rowsFiltered, s.queuedItems], [1, 1, 1]);
      p.read();
      s = p.snapshot();
      assert.deepEqual([s.rowsRead, s.rowsFiltered, s.queuedItems], [2, 1, 2]);
      p.read();
      assert.deepEqual(p.snapshot().rowsRead, 2, 'the queue is full: 502 stays unread');
    });

    it('reports InvalidSource with the filter\'s line:column, and reads nothing', () => {
      const source = new GrowingSource({});
      source.batches.push(statusRows([500], 0));
      const p = pipeline(plan({ table: 'http_events', filter: 'resp_status >= 500 and nope' }), source);
      p.start();
      const s = p.snapshot();
      assert.equal(s.lastErrorReason, 'InvalidSource');
      assert.equal(s.lastError, "compile filter: 1:24: name 'nope' is not defined");
      assert.equal(s.rowsRead + s.rowsFiltered, 0);
    });
  });

  describe('with a script source and a prometheus destination', () => {
    const script = `import px
df = px.DataFrame(table='http_events')
df = df.groupby('req_path').agg(requests=('latency', px.count))
px.display(df, 'paths')
`;

    it('serves the rows of each run as gauges and counts them exported', () => {
      const source = new GrowingSource({});
      const p = pipeline(plan({ script }, { prometheus: { metricPrefix: 'shop' } }), source);
      source.batches.push(statusRows([200, 200, 500], 0));
      p.read();
      const lines: string[] = [];
      p.renderPrometheus(lines, new Set());
      assert.deepEqual(lines.filter((l) => !l.startsWith('#')).sort(), ['shop_requests{req_path="/s200"} 2', 'shop_requests{req_path="/s500"} 1']);
      const s = p.snapshot();
      assert.deepEqual([s.rowsRead, s.itemsExported, s.queuedItems, s.lastError], [2, 2, 0, undefined]);
    });

    it('counts rows past maxSeries as dropped (seriesLimit) and says so', () => {
      const source = new GrowingSource({});
      const p = pipeline(plan({ script }, { prometheus: { maxSeries: 1 } }), source);
      source.batches.push(statusRows([200, 404, 500], 0));
      p.read();
      const s = p.snapshot();
      assert.deepEqual([s.rowsRead, s.itemsExported, s.dropped['seriesLimit']], [3, 1, 2]);
      assert.equal(s.lastErrorReason, 'SeriesLimit');
      const lines: string[] = [];
      p.renderPrometheus(lines, new Set());
      assert.equal(lines.filter((l) => l.startsWith('wisp_p_requests{')).length, 1, 'default prefix wisp_<name>');
    });

    it('reports InvalidSource for a script without a numeric column', () => {
      const p = pipeline(plan({ script: "import px\npx.display(px.DataFrame(table='http_events')[['req_path']])" }, { prometheus: {} }), new GrowingSource({}));
      assert.equal(p.snapshot().lastErrorReason, 'InvalidSource');
      assert.match(p.snapshot().lastError!, /^script to prometheus: output output has no numeric/);
    });

    it('reports InvalidSource for a table source, which exports spans only', () => {
      const p = pipeline(plan({ table: 'http_events' }, { prometheus: {} }), new GrowingSource({}));
      assert.equal(p.snapshot().lastErrorReason, 'InvalidSource');
    });
  });
});
