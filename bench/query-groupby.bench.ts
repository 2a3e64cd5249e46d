// The first query benchmark: filter + groupby(key, 10 s bin) +
// count + quantiles(latency) over 10 M http_events rows on one core, as
// store-sized Arrow batches (4096 rows: what the store seals; 65536: big
// batches). Key: remote_addr (a dictionary column, 20 peers; there is no
// service column yet). Baseline, measured in the same run: the same query in
// DuckDB (@duckdb/node-api, SET threads=1, approx_quantile) over the same
// rows.
//
// Every value is a pure function of the row number i (32-bit multiplicative
// hashes), so DuckDB builds the identical table with one SQL statement instead
// of 10 M appender calls; the row and group counts of both engines are
// compared on every run.
// Run: node --expose-gc bench/run.ts groupby   (GROUPBY_ROWS=… to shrink)
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { RecordBatch, Struct, makeData, makeVector, Utf8, type Data, type Field, type Vector } from 'apache-arrow';
import { arrowSchema } from '../src/tables/arrow.ts';
import { httpEvents } from '../src/tables/index.ts';
import { compileScript, executeLocal } from '../src/query/index.ts';
import type { TableSource } from '../src/query/source.ts';

const ROWS = Number(process.env.GROUPBY_ROWS ?? 10_000_000);
const RUNS = Number(process.env.GROUPBY_RUNS ?? 5);
const T0 = 1_700_000_000_000_000_000n;
const STEP_NS = Math.floor(600e9 / ROWS); // time_ spans 10 minutes
const PEERS = Array.from({ length: 20 }, (_, k) => `10.1.${k >> 2}.${10 + k}`);
const STATUSES = [200, 200, 200, 201, 404, 500];

// Row i's values; the same formulas are spelled in SQL below.
const latencyOf = (i: number): number => (Math.imul(i, 0x9e3779b1) >>> 0) % 10_000_000;
const statusOf = (i: number): number => STATUSES[((Math.imul(i, 0x85ebca6b) >>> 0) >>> 8) % 6] as number;
const peerOf = (i: number): number => ((Math.imul(i, 0x27d4eb2f) >>> 0) >>> 16) % 20;
const DUCKDB_TABLE = `CREATE TABLE http_events AS SELECT
    ${T0}::BIGINT + i * ${STEP_NS} AS time_,
    ${JSON.stringify(PEERS).replaceAll('"', "'")}[(((i * 668265263) % 4294967296) // 65536) % 20 + 1] AS remote_addr,
    [${STATUSES.join(', ')}][((((i * 2246822507) % 4294967296) // 256) % 6) + 1]::BIGINT AS resp_status,
    (((i * 2654435761) % 4294967296) % 10000000)::BIGINT AS latency
  FROM range(${ROWS}) t(i)`;
const DUCKDB_QUERY = `SELECT remote_addr, time_ // 10000000000 * 10000000000 AS timestamp, count(latency) AS n,
    approx_quantile(latency, [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]) AS lat
  FROM http_events WHERE resp_status < 500 GROUP BY ALL`;
const SCRIPT = `import px
df = px.DataFrame('http_events', start_time=0)
df = df[df.resp_status < 500]
df.timestamp = px.bin(df.time_, px.seconds(10))
df = df.groupby(['remote_addr', 'timestamp']).agg(n=('latency', px.count), lat=('latency', px.quantiles))
px.display(df)`;

interface Columns { time: BigInt64Array; status: BigInt64Array; latency: BigInt64Array; peer: Int32Array }

function makeColumns(): Columns {
  const time = new BigInt64Array(ROWS);
  const status = new BigInt64Array(ROWS);
  const latency = new BigInt64Array(ROWS);
  const peer = new Int32Array(ROWS);
  for (let i = 0; i < ROWS; i++) {
    time[i] = T0 + BigInt(i * STEP_NS);
    status[i] = BigInt(statusOf(i));
    latency[i] = BigInt(latencyOf(i));
    peer[i] = peerOf(i);
  }
  return { time, status, latency, peer };
}

function utf8Dictionary(strings: readonly string[]): Vector<Utf8> {
  const bytes = Buffer.from(strings.join(''));
  const offsets = new Int32Array(strings.length + 1);
  for (let k = 0; k < strings.length; k++) offsets[k + 1] = (offsets[k] as number) + Buffer.byteLength(strings[k] as string);
  return makeVector(makeData({ type: new Utf8(), length: strings.length, valueOffsets: offsets, data: bytes }));
}

/** Record batches of `batchRows` rows viewing `columns` (zero-copy), each with its own dictionaries like the store's; constant columns share one buffer. */
function makeBatches(columns: Columns, batchRows: number): RecordBatch[] {
  const schema = arrowSchema(httpEvents);
  const zeros = new BigInt64Array(batchRows);
  const zeroCodes = new Int32Array(batchRows);
  const emptyOffsets = new Int32Array(batchRows + 1);
  const bits = new Uint8Array((batchRows + 7) >> 3);
  const batches: RecordBatch[] = [];
  for (let start = 0; start < ROWS; start += batchRows) {
    const length = Math.min(batchRows, ROWS - start);
    // Dictionary entries in order of first appearance, as the store builds them.
    const codeOf = new Int32Array(PEERS.length).fill(-1);
    const entries: string[] = [];
    const codes = new Int32Array(length);
    for (let i = 0; i < length; i++) {
      const p = columns.peer[start + i] as number;
      if (codeOf[p] === -1) { codeOf[p] = entries.length; entries.push(PEERS[p] as string); }
      codes[i] = codeOf[p] as number;
    }
    const children = schema.fields.map((field: Field): Data => {
      const type = field.type;
      switch (field.name) {
        case 'time_': return makeData({ type, length, data: columns.time.subarray(start, start + length) } as never);
        case 'resp_status': return makeData({ type, length, data: columns.status.subarray(start, start + length) } as never);
        case 'latency': return makeData({ type, length, data: columns.latency.subarray(start, start + length) } as never);
        case 'remote_addr': return makeData({ type, length, data: codes, dictionary: utf8Dictionary(entries) } as never);
        default: break;
      }
      const spec = httpEvents.columns.find((c) => c.name === field.name);
      switch (spec?.type) {
        case 'int64': return makeData({ type, length, data: zeros.subarray(0, length) } as never);
        case 'boolean': return makeData({ type, length, data: bits } as never);
        case 'uint128': return makeData({ type, length, data: zeroCodes.subarray(0, length), dictionary: utf8Dictionary(['00000001-0000-0002-0000-000000000003']) } as never);
        default:
          if (spec?.dictionary) return makeData({ type, length, data: zeroCodes.subarray(0, length), dictionary: utf8Dictionary(['x']) } as never);
          return makeData({ type, length, valueOffsets: emptyOffsets.subarray(0, length + 1), data: new Uint8Array(0) } as never);
      }
    });
    batches.push(new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length, children })));
  }
  return batches;
}

interface Outcome { groups: number; rows: number }

function wispQuery(batches: RecordBatch[]): () => Outcome {
  const source: TableSource = {
    listTables: () => [httpEvents],
    getTable: (name) => (name === httpEvents.name ? httpEvents : undefined),
    scan: () => batches,
  };
  const compiled = compileScript(SCRIPT, source);
  return () => {
    const table = executeLocal(compiled, source, { maxOutputRows: 1_000_000 }).outputs[0]?.table;
    if (!table) throw new Error('no output');
    let rows = 0;
    const n = table.getChild('n')?.toArray() as BigInt64Array;
    for (const v of n) rows += Number(v);
    return { groups: table.numRows, rows };
  };
}

// DuckDB is a bench-only dependency that `make bench` installs under
// .cache/bench (ADR 0011): its npm package pulls per-platform bindings this
// registry does not all serve, which would break `npm ci` of the project.
// The part of its API used here:
interface DuckDBConnection {
  run(sql: string): Promise<unknown>;
  runAndReadAll(sql: string): Promise<{ getRowObjectsJS(): Record<string, unknown>[] }>;
  closeSync(): void;
}
interface DuckDBApi {
  DuckDBInstance: { create(path: string, options: Record<string, string>): Promise<{ connect(): Promise<DuckDBConnection>; closeSync(): void }> };
}

function loadDuckDB(): DuckDBApi {
  const benchRequire = createRequire(join(import.meta.dirname, '..', '.cache', 'bench', 'package.json'));
  try {
    return benchRequire('@duckdb/node-api') as DuckDBApi;
  } catch (cause) {
    throw new Error('load @duckdb/node-api from .cache/bench: run the benchmarks with make bench, which installs it', { cause });
  }
}

async function duckdb(): Promise<{ connection: DuckDBConnection; run: () => Promise<Outcome>; close: () => void }> {
  const { DuckDBInstance } = loadDuckDB();
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await instance.connect();
  await connection.run('SET threads = 1');
  await connection.run(DUCKDB_TABLE);
  return {
    connection,
    run: async () => {
      const rows = (await connection.runAndReadAll(DUCKDB_QUERY)).getRowObjectsJS();
      return { groups: rows.length, rows: rows.reduce((s, r) => s + Number(r.n as bigint), 0) };
    },
    close: () => { connection.closeSync(); instance.closeSync(); },
  };
}

async function measure(name: string, run: () => Outcome | Promise<Outcome>, baselineMs?: number): Promise<{ ms: number; outcome: Outcome }> {
  let outcome = await run(); // warm up
  const timesMs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    const start = process.hrtime.bigint();
    outcome = await run();
    timesMs.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  timesMs.sort((a, b) => a - b);
  const ms = timesMs[Math.floor(RUNS / 2)] as number;
  const ratio = baselineMs === undefined ? '' : `  ${(ms / baselineMs).toFixed(2)}× DuckDB`;
  console.log(`${name.padEnd(40)} ${ms.toFixed(0).padStart(6)} ms  ${(ROWS / ms / 1000).toFixed(1).padStart(5)} M rows/s  (${outcome.groups} groups, ${outcome.rows} rows)${ratio}`);
  return { ms, outcome };
}

export async function queryGroupbyBench(): Promise<void> {
  console.log(`filter resp_status < 500, groupby(remote_addr, 10 s bin), count + quantiles(latency) over ${ROWS} rows, one core, median of ${RUNS}`);
  const db = await duckdb();
  const base = await measure('DuckDB 1 thread, approx_quantile', db.run);
  db.close();
  const columns = makeColumns();
  for (const batchRows of [4096, 65_536]) {
    const batches = makeBatches(columns, batchRows);
    const { outcome } = await measure(`wisp, ${batchRows}-row batches`, wispQuery(batches), base.ms);
    if (outcome.groups !== base.outcome.groups || outcome.rows !== base.outcome.rows) {
      throw new Error(`groupby bench: wisp and DuckDB disagree (${JSON.stringify(outcome)} vs ${JSON.stringify(base.outcome)})`);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await queryGroupbyBench();
