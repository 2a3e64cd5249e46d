// network_stats: interface counters per network namespace. Processes of one
// pod share a namespace, so one /proc/<pid>/net/dev per distinct namespace
// (the inode of /proc/<pid>/ns/net) is read: the first pid found in it.
// Which pod a namespace belongs to comes from `podIdOf(pid)` (Kubernetes
// context, plugged in by the agent); the default names none ('').
// `admitPod(podId)` applies the Collector's namespaces by that pod's
// namespace (the host's network namespace has no pod: podId '').

import { readFileSync, readlinkSync } from 'node:fs';
import { networkStats } from '../../tables/network-stats.ts';
import type { EpochClock } from '../clock.ts';
import { Counters } from '../conn/counters.ts';
import type { TableStore } from '../store/table-store.ts';
import { columnIndex } from '../store/row-writer.ts';
import { listProcPids } from './process-stats.sampler.ts';
import { parseNetDev } from './proc.parser.ts';

export const DEFAULTS = Object.freeze({
  procRoot: '/proc',
  /** Loopback and virtual (veth, docker bridge) interfaces: traffic that does not leave the host (Pixie's choice). */
  ignoreInterfacePrefixes: Object.freeze(['lo', 'v', 'docker']) as readonly string[],
  maxNamespaces: 1024,
  /** Processes examined per sample to find namespaces. */
  maxPidsScanned: 32768,
});

export interface NetworkStatsOptions {
  readonly store: TableStore;
  readonly clock: EpochClock;
  readonly procRoot?: string;
  /** The pod UID of a process, '' when none or unknown. Called once per namespace per sample. */
  readonly podIdOf?: (pid: number) => string;
  /** Whether rows of a pod's network namespace are stored ('' = no pod); counts its own drops. Default: all. */
  readonly admitPod?: (podId: string) => boolean;
  readonly ignoreInterfacePrefixes?: readonly string[];
  /** Namespaces reported per sample at most; the rest are counted (`network_stats_dropped.over_limit`). */
  readonly maxNamespaces?: number;
  readonly maxPidsScanned?: number;
}

const C = Object.freeze({
  time: columnIndex(networkStats, 'time_'), podId: columnIndex(networkStats, 'pod_id'),
  rxBytes: columnIndex(networkStats, 'rx_bytes'), rxPackets: columnIndex(networkStats, 'rx_packets'),
  rxErrors: columnIndex(networkStats, 'rx_errors'), rxDrops: columnIndex(networkStats, 'rx_drops'),
  txBytes: columnIndex(networkStats, 'tx_bytes'), txPackets: columnIndex(networkStats, 'tx_packets'),
  txErrors: columnIndex(networkStats, 'tx_errors'), txDrops: columnIndex(networkStats, 'tx_drops'),
});

export class NetworkStatsSampler {
  readonly counters = new Counters();
  private readonly store: TableStore;
  private readonly clock: EpochClock;
  private readonly procRoot: string;
  private readonly podIdOf: (pid: number) => string;
  private readonly admitPod: (podId: string) => boolean;
  private readonly ignorePrefixes: readonly string[];
  private readonly maxNamespaces: number;
  private readonly maxPidsScanned: number;
  private readonly time = { hi: 0, lo: 0 };

  constructor(options: NetworkStatsOptions) {
    this.store = options.store;
    this.clock = options.clock;
    this.procRoot = options.procRoot ?? DEFAULTS.procRoot;
    this.podIdOf = options.podIdOf ?? (() => '');
    this.admitPod = options.admitPod ?? (() => true);
    this.ignorePrefixes = options.ignoreInterfacePrefixes ?? DEFAULTS.ignoreInterfacePrefixes;
    this.maxNamespaces = options.maxNamespaces ?? DEFAULTS.maxNamespaces;
    this.maxPidsScanned = options.maxPidsScanned ?? DEFAULTS.maxPidsScanned;
  }

  /** One pid per distinct network namespace (namespace link text → pid), in /proc order. */
  namespaces(): Map<string, number> {
    const found = new Map<string, number>();
    const pids = listProcPids(this.procRoot);
    if (pids.length > this.maxPidsScanned) this.counters.inc('network_stats_dropped.pids_over_limit', pids.length - this.maxPidsScanned);
    for (let i = 0; i < pids.length && i < this.maxPidsScanned; i++) {
      const pid = pids[i]!;
      let link: string;
      try {
        link = readlinkSync(`${this.procRoot}/${pid}/ns/net`);
      } catch {
        continue; // exited, or a kernel thread without a namespace link to read
      }
      if (!found.has(link)) found.set(link, pid);
    }
    return found;
  }

  /** Samples every namespace once, stamped `nowNs` (monotonic). Returns the rows written. */
  sample(nowNs: number): number {
    this.clock.toEpochParts(nowNs, this.time);
    let rows = 0;
    let seen = 0;
    for (const pid of this.namespaces().values()) {
      if (++seen > this.maxNamespaces) {
        this.counters.inc('network_stats_dropped.over_limit');
        continue;
      }
      let podId = '';
      try {
        podId = this.podIdOf(pid);
      } catch {
        this.counters.inc('network_stats_pod_resolver_error');
      }
      if (!this.admitPod(podId)) continue;
      let text: string;
      try {
        text = readFileSync(`${this.procRoot}/${pid}/net/dev`, 'latin1');
      } catch {
        this.counters.inc('network_stats_exited');
        continue;
      }
      const totals = parseNetDev(text, this.ignorePrefixes);
      if (totals === undefined) {
        this.counters.inc('network_stats_dropped.parse_error');
        continue;
      }
      const w = this.store.writer(networkStats.name);
      w.setInt64Parts(C.time, this.time.hi, this.time.lo);
      w.setString(C.podId, podId);
      w.setInt(C.rxBytes, totals.rxBytes);
      w.setInt(C.rxPackets, totals.rxPackets);
      w.setInt(C.rxErrors, totals.rxErrors);
      w.setInt(C.rxDrops, totals.rxDrops);
      w.setInt(C.txBytes, totals.txBytes);
      w.setInt(C.txPackets, totals.txPackets);
      w.setInt(C.txErrors, totals.txErrors);
      w.setInt(C.txDrops, totals.txDrops);
      this.store.commit(networkStats.name);
      rows++;
    }
    return rows;
  }
}
