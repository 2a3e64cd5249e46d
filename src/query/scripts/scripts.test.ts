import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { formatUpid } from '../../agent/upid.ts';
import { connStats } from '../../tables/conn-stats.ts';
import { httpRow, makeBatch, MemoryTableSource, type Row } from '../arrow-batches.test-helper.ts';
import { compileScript, executeLocal, executeOverSources, resultToJson, type JsonOutput, type MetadataResolver, type UpidProperty } from '../index.ts';

const SECOND_NS = 1_000_000_000n;
const MS_NS = 1_000_000n;
const NOW_NS = 1000n * SECOND_NS;

/** Three processes: two pods of namespace shop, one of ops. */
const PODS: Readonly<Record<number, Readonly<Partial<Record<UpidProperty, string>>>>> = {
  1: { pod_name: 'shop/front', namespace: 'shop', service_name: 'shop/front-svc' },
  2: { pod_name: 'shop/cart', namespace: 'shop', service_name: 'shop/cart-svc' },
  3: { pod_name: 'ops/mon', namespace: 'ops', service_name: 'ops/mon-svc' },
};

/** Peers of conn_stats rows the resolver knows: a pod and a service address. */
const PEER_IPS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  '10.0.0.12': { pod_name: 'shop/cart' },
  '10.0.0.30': { service_name: 'ops/mon-svc' },
};

const resolver: MetadataResolver = {
  upid: (upid, property) => {
    const pid = Number.parseInt(upid.slice(9, 13), 16) * 65536 + Number.parseInt(upid.slice(14, 18), 16);
    return PODS[pid]?.[property] ?? '';
  },
  podId: () => '', podName: () => '', serviceId: () => '',
  ip: (address, property) => PEER_IPS[address]?.[property] ?? '',
};

interface Generated { readonly pid: number; readonly timeNs: bigint; readonly latencyNs: bigint; readonly status: bigint; readonly path: string }

/** 90 requests in the last 90 s, one a second, round-robin over the three processes. */
const generated: readonly Generated[] = Array.from({ length: 90 }, (_v, i) => ({
  pid: (i % 3) + 1,
  timeNs: NOW_NS - 90n * SECOND_NS + BigInt(i) * SECOND_NS,
  latencyNs: BigInt((i % 10) + 1) * 10n * MS_NS,
  status: i % 9 === 0 ? 500n : 200n,
  path: `/p${i % 4}`,
}));

const rows: readonly Row[] = generated.map((g) => httpRow({
  time_: g.timeNs, upid: formatUpid(7, g.pid, 1234), latency: g.latencyNs, resp_status: g.status, req_path: g.path,
}));

/** A conn_stats row as the agent writes it: cumulative per (upid, peer, role). */
function connRow(pid: number, agoSeconds: bigint, peer: string, role: bigint, sent: bigint, recv: bigint): Row {
  return {
    time_: NOW_NS - agoSeconds * SECOND_NS, upid: formatUpid(7, pid, 1234), remote_addr: peer, remote_port: 443n,
    trace_role: role, addr_family: 1n, protocol: 0n, ssl: false, conn_open: 1n, conn_close: 0n, conn_active: 1n,
    bytes_sent: sent, bytes_recv: recv,
  };
}

/** shop/front → shop/cart (a pod) and → ops/mon-svc (a service); shop/cart → an unknown address, partly before the window. */
const connRows: readonly Row[] = [
  connRow(1, 50n, '10.0.0.12', 1n, 0n, 0n), connRow(1, 40n, '10.0.0.12', 1n, 100n, 1000n), connRow(1, 20n, '10.0.0.12', 1n, 300n, 3000n),
  connRow(1, 30n, '10.0.0.30', 1n, 0n, 0n), connRow(1, 5n, '10.0.0.30', 1n, 50n, 70n),
  connRow(2, 400n, '10.9.9.9', 1n, 5n, 5n), connRow(2, 100n, '10.9.9.9', 1n, 10n, 20n), connRow(2, 10n, '10.9.9.9', 1n, 25n, 40n),
  // The server side of shop/front → shop/cart: not counted twice.
  connRow(2, 20n, '10.0.0.11', 2n, 3000n, 300n),
];

function source(part: readonly Row[] = rows): MemoryTableSource {
  const batches = [];
  for (let i = 0; i < part.length; i += 16) batches.push(makeBatch(part.slice(i, i + 16)));
  return new MemoryTableSource({ http_events: batches, conn_stats: [makeBatch(connRows, connStats)] });
}

function runScript(name: string, sources = [source()]): JsonOutput[] {
  const text = readFileSync(new URL(`./${name}`, import.meta.url), 'utf8');
  const compiled = compileScript(text, sources[0] as MemoryTableSource, { nowNs: NOW_NS });
  const result = sources.length === 1 ? executeLocal(compiled, sources[0] as MemoryTableSource, { metadata: resolver }) : executeOverSources(compiled, sources, { metadata: resolver });
  return [...resultToJson(result).outputs];
}

/** The documented quantile of px.quantiles for few points: rank q·n − ½ interpolated between sorted values. */
function exactQuantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(Math.max(q * sorted.length - 0.5, 0), sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.min(low + 1, sorted.length - 1);
  return (sorted[low] as number) + ((sorted[high] as number) - (sorted[low] as number)) * (rank - low);
}

describe('bundled scripts', () => {
  describe('http_data.pxl', () => {
    const [output] = runScript('http_data.pxl');

    it('lists the first requests with pod and pid resolved from the upid', () => {
      assert.equal(output?.name, 'http_data');
      assert.deepEqual(output?.columns.map((c) => c.name), ['time_', 'pod', 'pid', 'remote_addr', 'req_method', 'req_path', 'resp_status', 'failure', 'latency']);
      assert.equal(output?.rows.length, 90);
      assert.deepEqual(output?.rows[0]?.slice(1), ['shop/front', 1, '10.0.0.2', 'GET', '/p0', 500, true, 10_000_000]);
      assert.deepEqual(output?.rows[2]?.slice(1, 3), ['ops/mon', 3]);
    });
  });

  describe('service_stats.pxl', () => {
    const [output] = runScript('service_stats.pxl');

    it('reports throughput, error rate and latency quantiles per service and 10 s window', () => {
      const expected = new Map<string, Generated[]>();
      for (const g of generated) {
        const key = `${PODS[g.pid]?.service_name}|${(g.timeNs / (10n * SECOND_NS)) * 10n}`;
        expected.set(key, [...(expected.get(key) ?? []), g]);
      }
      assert.equal(output?.rows.length, expected.size);
      assert.equal(expected.size, 27);
      for (const row of output?.rows ?? []) {
        const [service, timestamp, total, throughput, errorRate, p50, p99] = row as [string, string, number, number, number, number, number];
        const seconds = BigInt(Date.parse(timestamp) / 1000);
        const group = expected.get(`${service}|${seconds}`);
        assert.ok(group, `group ${service} ${timestamp}`);
        const latenciesMs = group.map((g) => Number(g.latencyNs) / 1e6);
        assert.equal(total, group.length);
        assert.equal(throughput, group.length / 10);
        assert.equal(errorRate, group.filter((g) => g.status >= 400n).length / group.length);
        assert.equal(p50, exactQuantile(latenciesMs, 0.5));
        assert.equal(p99, exactQuantile(latenciesMs, 0.99));
      }
      const first = output?.rows[0];
      assert.deepEqual(first, ['shop/front-svc', '1970-01-01T00:15:10.000000000Z', 4, 0.4, 0.5, 55, 100]);
    });

    it('gives the same answer split over three nodes', () => {
      const parts = [0, 1, 2].map((k) => source(rows.filter((_r, i) => Math.floor(i / 7) % 3 === k)));
      const [split] = runScript('service_stats.pxl', parts);
      const sorted = (out: JsonOutput | undefined): string[] => (out?.rows ?? []).map((r) => JSON.stringify(r)).sort();
      assert.deepEqual(sorted(split), sorted(output));
    });
  });

  describe('namespace_summary.pxl', () => {
    const [namespaces, slow] = runScript('namespace_summary.pxl');

    it('counts pods and requests per namespace (a groupby of a groupby, merged)', () => {
      assert.deepEqual(namespaces?.rows, [['shop', 2, 60, 100_000_000], ['ops', 1, 30, 100_000_000]]);
    });

    it('lists the slowest paths', () => {
      assert.deepEqual(slow?.name, 'slow_paths');
      assert.deepEqual(slow?.rows, [['/p0', 90_000_000], ['/p1', 100_000_000], ['/p2', 90_000_000]]);
    });
  });

  describe('net_flow_graph.pxl', () => {
    const [output] = runScript('net_flow_graph.pxl');

    it('sums the growth of the client side counters in the window per (from pod, to peer)', () => {
      assert.deepEqual(output?.columns.map((c) => c.name), ['from_entity', 'to_entity', 'bytes_sent', 'bytes_recv', 'bytes_total']);
      const sorted = [...(output?.rows ?? [])].sort((a, b) => String(a).localeCompare(String(b)));
      assert.deepEqual(sorted, [
        ['shop/cart', '10.9.9.9', 15, 20, 35],
        ['shop/front', 'ops/mon-svc', 50, 70, 120],
        ['shop/front', 'shop/cart', 300, 3000, 3300],
      ]);
    });
  });
});
