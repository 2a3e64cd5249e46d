// Filter throughput of the query executor over ~1M http_events rows held as
// store-sized Arrow batches: `resp_status == 200 & req_method == 'GET'`.
// Baseline, measured in the same run: a hand-written loop over the same
// typed arrays computing the same predicate (no plan, no gather).
// Run: node bench/query-filter.bench.ts
import { RecordBatch, Struct, makeData, vectorFromArray, type Data } from 'apache-arrow';
import { arrowSchema } from '../src/tables/arrow.ts';
import { httpEvents } from '../src/tables/index.ts';
import { compileScript } from '../src/query/index.ts';
import { runFragment } from '../src/query/local.executor.ts';
import type { TableSource } from '../src/query/source.ts';

const BATCH_ROWS = 65_536;
const BATCHES = 16; // 1,048,576 rows
const METHODS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'];
const STATUSES = [200n, 200n, 200n, 201n, 404n, 500n];

function makeBatches(): RecordBatch[] {
  const schema = arrowSchema(httpEvents);
  const batches: RecordBatch[] = [];
  let time = 1_000_000_000n;
  let seed = 42;
  const random = (): number => ((seed = (seed * 1_103_515_245 + 12_345) >>> 0) / 2 ** 32);
  for (let b = 0; b < BATCHES; b++) {
    const columns = new Map<string, unknown[]>();
    for (const c of httpEvents.columns) columns.set(c.name, []);
    const push = (name: string, value: unknown): void => void columns.get(name)?.push(value);
    for (let i = 0; i < BATCH_ROWS; i++) {
      time += 1_000n;
      push('time_', time); push('upid', '00000001-0000-0002-0000-000000000003'); push('remote_addr', '10.0.0.2');
      push('remote_port', 40_000n + BigInt(i % 1000)); push('local_addr', '10.0.0.1'); push('local_port', 8080n);
      push('trace_role', 2n); push('encrypted', false); push('major_version', 1n); push('minor_version', 1n);
      push('content_type', 0n); push('req_headers', '{"host":"svc"}'); push('req_method', METHODS[Math.floor(random() * METHODS.length)]);
      push('req_path', `/api/v1/items/${i % 500}`); push('req_body', ''); push('req_body_size', 0n); push('resp_headers', '{}');
      push('resp_status', STATUSES[Math.floor(random() * STATUSES.length)]); push('resp_message', 'OK'); push('resp_body', '{}');
      push('resp_body_size', 2n); push('latency', BigInt(Math.floor(random() * 1e7)));
    }
    const children = schema.fields.map((field): Data => {
      const spec = httpEvents.columns.find((c) => c.name === field.name);
      const values = columns.get(field.name) ?? [];
      if (spec?.type === 'int64' || spec?.type === 'time64ns') return makeData({ type: field.type, length: values.length, data: BigInt64Array.from(values as bigint[]) });
      return vectorFromArray(values, field.type).data[0] as Data;
    });
    batches.push(new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: BATCH_ROWS, children })));
  }
  return batches;
}

const batches = makeBatches();
const rows = BATCH_ROWS * BATCHES;
const source: TableSource = {
  listTables: () => [httpEvents],
  getTable: (name) => (name === httpEvents.name ? httpEvents : undefined),
  scan: () => batches,
};

function baseline(): number {
  let matches = 0;
  for (const batch of batches) {
    const status = batch.getChild('resp_status')?.data[0]?.values as BigInt64Array;
    const method = batch.getChild('req_method')?.data[0] as Data;
    const dictionary = method.dictionary?.toArray() as string[];
    const isGet = Uint8Array.from(dictionary, (m) => (m === 'GET' ? 1 : 0));
    const codes = method.values as Int32Array;
    for (let i = 0; i < batch.numRows; i++) if (status[i] === 200n && isGet[codes[i] as number] === 1) matches++;
  }
  return matches;
}

function query(select: string): () => number {
  const compiled = compileScript(`import px\ndf = px.DataFrame('http_events', start_time=0)\ndf = df[(df.resp_status == 200) & (df.req_method == 'GET')]\n${select}px.display(df)`, source);
  const fragment = compiled.outputs[0]?.nodeFragment;
  if (!fragment) throw new Error('no output');
  return () => {
    let matches = 0;
    for (const chunk of runFragment(fragment, { source })) matches += chunk.length;
    return matches;
  };
}

function measure(name: string, run: () => number, baselineMs?: number): number {
  for (let i = 0; i < 3; i++) run(); // warm up
  const timesMs: number[] = [];
  let matches = 0;
  for (let i = 0; i < 10; i++) {
    const start = process.hrtime.bigint();
    matches = run();
    timesMs.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  timesMs.sort((a, b) => a - b);
  const medianMs = timesMs[5] as number;
  const ratio = baselineMs === undefined ? '' : `  ${(medianMs / baselineMs).toFixed(2)}× baseline`;
  console.log(`${name.padEnd(44)} ${medianMs.toFixed(1).padStart(7)} ms  ${(rows / medianMs / 1000).toFixed(1).padStart(6)} M rows/s  (${matches} matches)${ratio}`);
  return medianMs;
}

export async function queryFilterBench(): Promise<void> {
  console.log(`filter resp_status == 200 & req_method == 'GET' over ${rows} rows in ${BATCHES} batches`);
  const baseMs = measure('baseline: hand-written loop, count only', baseline);
  measure('query: filter, 2 columns out', query("df = df[['time_', 'req_path']]\n"), baseMs);
  measure('query: filter, all 22 columns out', query(''), baseMs);
}

if (import.meta.url === `file://${process.argv[1]}`) await queryFilterBench();
