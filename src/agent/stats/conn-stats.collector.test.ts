import assert from 'node:assert/strict';
import { connStats } from '../../tables/conn-stats.ts';
import type { ConnOpenEvent } from '../bpf/events.ts';
import { TraceRole } from '../bpf/events.ts';
import { EpochClock } from '../clock.ts';
import { TableStore } from '../store/table-store.ts';
import { formatUpid } from '../upid.ts';
import { ConnStatsCollector } from './conn-stats.collector.ts';

const SECOND_NS = 1_000_000_000;

function open(connId: number, remotePort: number, overrides: Partial<ConnOpenEvent> = {}): ConnOpenEvent {
  return {
    timestampNs: SECOND_NS, connId, pid: 42, fd: 3 + connId, processStartNs: 5 * SECOND_NS,
    role: TraceRole.Client, family: 4, localAddr: '10.0.0.1', localPort: 40000 + connId,
    remoteAddr: '10.0.0.9', remotePort, ...overrides,
  };
}

function close(connId: number, bytesSent: number, bytesReceived: number, protocol = 0xffff) {
  return { timestampNs: 3 * SECOND_NS, connId, pid: 42, fd: 3 + connId, bytesSent, bytesReceived, protocol };
}

function setup(options: { maxConnections?: number; maxEndpoints?: number; admit?: (pid: number, processStartNs: number) => boolean } = {}) {
  const store = new TableStore();
  store.register(connStats);
  const collector = new ConnStatsCollector({ store, clock: new EpochClock(), agentId: 1, ...options });
  const rows = (): Record<string, unknown>[] => {
    store.flush(connStats.name);
    return store.scan(connStats.name, 0n, 1n << 62n).flatMap((b) => b.toArray().map((r) => {
      const row = r.toJSON() as Record<string, unknown>;
      delete row['time_'];
      return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v]));
    }));
  };
  return { collector, rows };
}

describe('ConnStatsCollector', () => {
  describe('with two connections to one endpoint', () => {
    it('writes a zero row at the first open, then one cumulative row per report while they change', () => {
      const { collector, rows } = setup();
      collector.onOpen(open(1, 6379));
      collector.onOpen(open(2, 6379));
      collector.beginScan(2 * SECOND_NS);
      collector.observe(1, 100, 10, 4);
      collector.observe(2, 50, 5, 4);
      assert.equal(collector.report(2 * SECOND_NS), 1);
      assert.equal(collector.report(2.5 * SECOND_NS), 0, 'nothing changed');
      collector.onClose(close(1, 130, 10, 4));
      assert.equal(collector.report(4 * SECOND_NS), 1);
      const upid = formatUpid(1, 42, 500);
      const base = { upid, remote_addr: '10.0.0.9', remote_port: 6379, trace_role: 1, addr_family: 1, protocol: 7, ssl: false };
      assert.deepEqual(rows(), [
        { ...base, protocol: 0, conn_open: 1, conn_close: 0, conn_active: 1, bytes_sent: 0, bytes_recv: 0 },
        { ...base, conn_open: 2, conn_close: 0, conn_active: 2, bytes_sent: 150, bytes_recv: 15 },
        { ...base, conn_open: 2, conn_close: 1, conn_active: 1, bytes_sent: 180, bytes_recv: 15 },
      ]);
    });
  });

  describe('with a scan that reads an older value than one already applied', () => {
    it('never lets the counters go back', () => {
      const { collector, rows } = setup();
      collector.onOpen(open(1, 80));
      collector.onClose(close(1, 500, 70, 1));
      collector.observe(1, 100, 10, 1); // closed meanwhile: ignored
      collector.report(4 * SECOND_NS);
      assert.deepEqual(rows().map((r) => [r['bytes_sent'], r['bytes_recv'], r['protocol'], r['conn_active']]), [[0, 0, 0, 1], [500, 70, 1, 0]]);
    });
  });

  describe('at its bounds', () => {
    it('counts connections it cannot follow', () => {
      const { collector } = setup({ maxConnections: 1 });
      collector.onOpen(open(1, 80));
      collector.onOpen(open(2, 80));
      assert.equal(collector.stats()['conn_stats_dropped.connections_full'], 1);
    });
    it('evicts an idle endpoint for a new one, and counts a drop when none is idle', () => {
      const { collector } = setup({ maxEndpoints: 1 });
      collector.onOpen(open(1, 80));
      collector.onClose(close(1, 1, 1));
      collector.report(4 * SECOND_NS);
      collector.onOpen(open(2, 81));
      collector.onOpen(open(3, 82));
      const stats = collector.stats();
      assert.equal(stats['conn_stats_evicted_idle_endpoints'], 1);
      assert.equal(stats['conn_stats_dropped.endpoints_full'], 1);
      assert.equal(stats['conn_stats_endpoints'], 1);
    });
    it('forgets endpoints without open connections after the idle time', () => {
      const store = new TableStore();
      store.register(connStats);
      const collector = new ConnStatsCollector({ store, clock: new EpochClock(), agentId: 1, idleEndpointNs: 10 * SECOND_NS });
      collector.onOpen(open(1, 80));
      collector.onClose(close(1, 1, 1));
      collector.report(4 * SECOND_NS);
      collector.report(13.5 * SECOND_NS);
      assert.equal(collector.stats()['conn_stats_endpoints'], 0);
    });
  });

  describe('with a namespace scope', () => {
    it('follows no connection of a process out of scope, and stops the rows of a process that leaves the scope', () => {
      const admitted = new Set([42]);
      const asked: number[] = [];
      const { collector, rows } = setup({ admit: (pid) => { asked.push(pid); return admitted.has(pid); } });
      collector.onOpen(open(1, 80));
      collector.onOpen(open(2, 80, { pid: 43 }));
      assert.deepEqual(collector.stats()['conn_stats_connections'], 1, 'the out-of-scope connection takes no slot');
      collector.beginScan(2 * SECOND_NS);
      collector.observe(1, 10, 1, 1);
      collector.observe(2, 10, 1, 1);
      assert.equal(collector.report(2 * SECOND_NS), 1);
      admitted.delete(42); // a new plan excludes pid 42's namespace
      collector.observe(1, 20, 2, 1);
      assert.equal(collector.report(3 * SECOND_NS), 0);
      assert.deepEqual(rows().map((r) => [r['upid'], r['bytes_sent']]), [[formatUpid(1, 42, 500), 0], [formatUpid(1, 42, 500), 10]]);
      assert.deepEqual(asked, [42, 43, 42, 42]);
    });
  });
});
