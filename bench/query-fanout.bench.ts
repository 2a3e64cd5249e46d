// Fan-out overhead: the same script through the cluster query endpoint over
// 10 agents holding 1/10 of the rows each, vs over 1 agent holding them all
// (the baseline, measured in the same run). Agents are real query servers on
// loopback with real table stores; they share this process's one thread, so
// the ratio shows the cost of splitting (HTTP, Arrow IPC, partial aggregates,
// merge) and not the parallel speed-up a real cluster adds.
import { performance } from 'node:perf_hooks';
import { EpochClock } from '../src/agent/clock.ts';
import { QueryServer } from '../src/agent/server/query-server.ts';
import { TableStore } from '../src/agent/store/table-store.ts';
import type { AgentDirectory } from '../src/query/endpoint/agent-directory.ts';
import { QueryEndpoint } from '../src/query/endpoint/query-endpoint.ts';
import { httpEvents } from '../src/tables/http-events.ts';
import { printTable } from './support.ts';

const TOTAL_ROWS = Number(process.env['FANOUT_ROWS'] ?? 1_000_000);
const RUNS = 5;
const SCRIPT = `import px
df = px.DataFrame('http_events', start_time='-1h')
df = df[df.resp_status < 500]
df = df.groupby(['remote_addr', 'req_method']).agg(n=('latency', px.count), lat=('latency', px.quantiles))
px.display(df)
`;

function column(name: string): number {
  return httpEvents.columns.findIndex((c) => c.name === name);
}

/** Fills `stores` round-robin with TOTAL_ROWS synthetic rows of the last few minutes. */
function fill(stores: readonly TableStore[], clock: EpochClock): void {
  const C = { time: column('time_'), upid: column('upid'), remote: column('remote_addr'), method: column('req_method'),
    path: column('req_path'), status: column('resp_status'), latency: column('latency') };
  const parts = { hi: 0, lo: 0 };
  const start = EpochClock.monotonicNs() - 300e9;
  const methods = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'];
  let seed = 7;
  for (let i = 0; i < TOTAL_ROWS; i++) {
    seed = (seed * 1_103_515_245 + 12_345) >>> 0;
    const store = stores[i % stores.length]!;
    const w = store.writer('http_events');
    clock.toEpochParts(start + i * (300e9 / TOTAL_ROWS), parts);
    w.setInt64Parts(C.time, parts.hi, parts.lo);
    w.setString(C.upid, '00000001-0000-0001-0000-000000000001');
    w.setString(C.remote, `10.0.0.${seed % 20}`);
    w.setString(C.method, methods[seed % methods.length]!);
    w.setString(C.path, `/api/items/${seed % 100}`);
    w.setInt(C.status, seed % 6 === 0 ? 500 : 200);
    w.setInt(C.latency, seed % 10_000_000);
    store.commit('http_events');
  }
}

async function measure(agentCount: number, clock: EpochClock): Promise<{ medianMs: number; groups: number; rows: number }> {
  const stores = Array.from({ length: agentCount }, () => {
    const store = new TableStore({ totalBudgetBytes: 4 * 1024 ** 3 });
    store.register(httpEvents);
    return store;
  });
  fill(stores, clock);
  const servers = stores.map((store) => new QueryServer({ store, listen: '127.0.0.1:0', metrics: () => '', nowNs: () => clock.nowNs() }));
  const addresses = await Promise.all(servers.map(async (server) => `127.0.0.1:${(await server.start()).port}`));
  const directory: AgentDirectory = { list: async () => ({ reachable: addresses.map((address, i) => ({ node: `node-${i}`, address })), unreachable: [] }) };
  const endpoint = new QueryEndpoint({ directory, nowNs: () => clock.nowNs(), maxOutputRows: 1_000_000 });
  try {
    await endpoint.run(SCRIPT); // warm up
    const times: number[] = [];
    let groups = 0;
    let rows = 0;
    for (let r = 0; r < RUNS; r++) {
      const started = performance.now();
      const { result, agents } = await endpoint.run(SCRIPT);
      times.push(performance.now() - started);
      if (agents.some((a) => !a.ok)) throw new Error(`fan-out failed: ${JSON.stringify(agents)}`);
      const table = result.outputs[0]!.table;
      groups = table.numRows;
      rows = table.toArray().reduce((n, row) => n + Number(row.toJSON().n), 0);
    }
    times.sort((a, b) => a - b);
    return { medianMs: times[Math.floor(RUNS / 2)]!, groups, rows };
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
}

export async function queryFanoutBench(): Promise<void> {
  const clock = new EpochClock();
  const one = await measure(1, clock);
  const ten = await measure(10, clock);
  if (one.groups !== ten.groups || one.rows !== ten.rows) throw new Error(`results differ: ${JSON.stringify({ one, ten })}`);
  printTable(`fan-out: groupby + quantiles over ${TOTAL_ROWS.toLocaleString('en-US')} rows through the query endpoint (median of ${RUNS})`, [
    ['agents', 'ms', 'groups', 'rows aggregated', 'ratio'],
    ['1 agent, all rows (baseline)', one.medianMs, one.groups, one.rows, 1],
    ['10 agents, 1/10 each', ten.medianMs, ten.groups, ten.rows, ten.medianMs / one.medianMs],
  ]);
}

if (import.meta.url === `file://${process.argv[1]}`) await queryFanoutBench();
