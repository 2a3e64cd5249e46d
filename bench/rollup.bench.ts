// What a rollup adds to the ingest path: 1M http_events rows written into a
// TableStore through the column setters (as HttpEventsWriter does), without
// and with a rollup of the DESIGN.md shape (per interval, path template and
// status class: count, errorRate, latency quantiles) subscribed to the table.
// Baseline, measured in the same run: the same writes with no rollup. Also
// shown: the query engine computing the same summary from the stored rows
// once, by raw path and status (PxL has no path templates), which is what a
// script summarizing the raw rows would pay.
// Run: node bench/rollup.bench.ts
import type { PlanRollup } from '../src/common/agent-plan.ts';
import { compileRollup, Rollup } from '../src/agent/retention/rollup.ts';
import { TableStore } from '../src/agent/store/table-store.ts';
import { compileScript, executeLocal } from '../src/query/index.ts';
import { httpEvents } from '../src/tables/index.ts';

const ROWS = 1 << 20;
const T0 = 1_700_000_000 * 1e9;
/** Rows span 10 minutes: ten 1-minute intervals. */
const STEP_NS = Math.floor((600 * 1e9) / ROWS);
const C = Object.fromEntries(httpEvents.columns.map((c, i) => [c.name, i])) as Record<string, number>;
const PATHS = Array.from({ length: 2000 }, (_, i) => `/api/v1/${['items', 'users', 'orders', 'carts'][i % 4]}/${i * 7919}`);
const STATUSES = [200, 200, 200, 201, 304, 404, 500];

const ROLLUP: PlanRollup = {
  name: 'http_events_1m', from: 'http_events', intervalMs: 60_000, groupBy: ['req_path', 'resp_status'],
  aggregates: { requests: 'count', errors: 'errorRate', latency: 'quantiles' }, retainMs: 86_400_000, owner: 'bench',
};

function write(withRollup: boolean): { ms: number; store: TableStore; groups: number } {
  const store = new TableStore({ totalBudgetBytes: 2 ** 30, nowNs: () => BigInt(T0) });
  store.register(httpEvents);
  let rollup: Rollup | undefined;
  if (withRollup) {
    const compiled = compileRollup(ROLLUP, httpEvents);
    store.register(compiled.spec);
    rollup = new Rollup(compiled, store, { maxOpenIntervals: 16 });
  }
  let seed = 42;
  const random = (): number => ((seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0) / 2 ** 32);
  const start = process.hrtime.bigint();
  for (let i = 0; i < ROWS; i++) {
    const w = store.writer('http_events');
    w.setInt(C.time_!, T0 + i * STEP_NS);
    w.setString(C.upid!, '00000001-0000-0002-0000-000000000003');
    w.setString(C.req_method!, 'GET');
    w.setString(C.req_path!, PATHS[i % PATHS.length]!);
    w.setInt(C.resp_status!, STATUSES[Math.floor(random() * STATUSES.length)]!);
    w.setInt(C.latency!, Math.floor(random() * 1e7));
    store.commit('http_events');
  }
  rollup?.tick(BigInt(T0 + 3600 * 1e9));
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  return { ms, store, groups: rollup?.stats().rowsWritten ?? 0 };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export async function rollupBench(): Promise<void> {
  console.log(`${ROWS} http_events rows over 10 min, ${PATHS.length} paths (4 templates), rollup per 1 min × path template × status class`);
  write(true); // warm up
  // Alternate the two, so a noisy neighbour slows both alike.
  const baseTimes: number[] = [];
  const rollupTimes: number[] = [];
  let groups = 0;
  let store: TableStore | undefined;
  for (let i = 0; i < 7; i++) {
    baseTimes.push(write(false).ms);
    const r = write(true);
    rollupTimes.push(r.ms);
    groups = r.groups;
    store = r.store;
  }
  const baseMs = median(baseTimes);
  const rollupMs = median(rollupTimes);
  const line = (name: string, ms: number): void => console.log(`${name.padEnd(46)} ${ms.toFixed(0).padStart(6)} ms  ${(ROWS / ms / 1000).toFixed(2).padStart(5)} M rows/s  ${(ms / baseMs).toFixed(2)}× baseline`);
  line('baseline: write rows, no rollup', baseMs);
  line(`write rows + rollup (${groups} rollup rows)`, rollupMs);
  const script = `import px
df = px.DataFrame('http_events', start_time=0)
df.window = px.bin(df.time_, px.minutes(1))
df = df.groupby(['window', 'req_path', 'resp_status']).agg(requests=('latency', px.count), latency=('latency', px.quantiles))
px.display(df)`;
  const t = process.hrtime.bigint();
  executeLocal(compileScript(script, store!, { nowNs: BigInt(T0 + 3600 * 1e9) }), store!, { maxOutputRows: 1 << 20 });
  const queryMs = Number(process.hrtime.bigint() - t) / 1e6;
  console.log(`${'query once: per minute × raw path × status'.padEnd(46)} ${queryMs.toFixed(0).padStart(6)} ms  (the rollup's whole extra cost: ${(rollupMs - baseMs).toFixed(0)} ms)`);
}

if (import.meta.url === `file://${process.argv[1]}`) await rollupBench();
