// The agent's statistics tables — conn_stats, process_stats, network_stats,
// proc_exit_events — with their collectors and timers, so the agent wires
// them with a few calls: register (constructor), sink(), start(), stop(),
// counters(). The Collector's namespaces apply to every one of them through
// one StatsScope (the agent's CollectorScope): rows of processes and pods
// out of scope are not written, and the scope counts them.

import { connStats } from '../../tables/conn-stats.ts';
import { networkStats } from '../../tables/network-stats.ts';
import { procExitEvents } from '../../tables/proc-exit-events.ts';
import { processStats } from '../../tables/process-stats.ts';
import type { ConnCloseEvent, ConnOpenEvent, DataEvent, ProcExitEvent, SocketEventSink } from '../bpf/events.ts';
import type { SocketTracer } from '../bpf/socket-tracer.ts';
import { EpochClock } from '../clock.ts';
import type { TableStore } from '../store/table-store.ts';
import { ConnStatsCollector } from './conn-stats.collector.ts';
import { NetworkStatsSampler } from './network-stats.sampler.ts';
import { ProcessStatsSampler } from './process-stats.sampler.ts';
import { ProcExitEventsWriter } from './proc-exit-events.writer.ts';

export const DEFAULTS = Object.freeze({
  /** conn_stats reporting interval: each endpoint gets at most one row per interval. */
  connStatsIntervalMs: 5000,
  processStatsIntervalMs: 10_000,
  networkStatsIntervalMs: 10_000,
});

/** What the agent's options may set. */
export interface AgentStatsSettings {
  readonly connStatsIntervalMs?: number;
  readonly processStatsIntervalMs?: number;
  readonly networkStatsIntervalMs?: number;
  /** Processes process_stats samples; default every process (bounded, see ProcessStatsSampler). */
  readonly pids?: () => Iterable<number>;
  /** Pod UID of a process for network_stats.pod_id; default ''. */
  readonly podIdOf?: (pid: number) => string;
  /** The Collector's namespace scoping of stats rows; default: every row is kept. */
  readonly scope?: StatsScope;
}

/**
 * The Collector's namespace decision as the stats tables ask it (the
 * agent's CollectorScope answers it, so the rule lives in one place). Each
 * `false` is a row not written, counted by the scope
 * (records_dropped.namespace_excluded).
 */
export interface StatsScope {
  /** Rows of a process: conn_stats, process_stats, proc_exit_events. Cached per pid by the scope. */
  admitProcess(pid: number, processStartNs: number): boolean;
  /** network_stats rows of the network namespace of pod `podId` ('' = no pod, the host's). */
  admitPod(podId: string): boolean;
}

const EVERYTHING: StatsScope = Object.freeze({ admitProcess: () => true, admitPod: () => true });

export interface AgentStatsOptions extends AgentStatsSettings {
  readonly store: TableStore;
  readonly clock: EpochClock;
  readonly agentId: number;
}

export class AgentStats {
  readonly connStats: ConnStatsCollector;
  readonly processStats: ProcessStatsSampler;
  readonly networkStats: NetworkStatsSampler;
  private readonly procExits: ProcExitEventsWriter;
  private readonly intervals: Required<Pick<AgentStatsSettings, 'connStatsIntervalMs' | 'processStatsIntervalMs' | 'networkStatsIntervalMs'>>;
  private readonly timers: NodeJS.Timeout[] = [];
  /**
   * The Collector's sources conn (conn_stats), process (process_stats,
   * proc_exit_events) and network (network_stats); switched live by
   * setSources(). An off source samples nothing; its collectors keep their
   * bounded state so switching back on needs no restart.
   */
  private readonly on = { conn: true, process: true, network: true };
  private procExitsDropped = 0;
  private readonly scope: StatsScope;

  constructor(options: AgentStatsOptions) {
    const { store, clock, agentId } = options;
    const scope = options.scope ?? EVERYTHING;
    this.scope = scope;
    const admit = (pid: number, processStartNs: number): boolean => scope.admitProcess(pid, processStartNs);
    for (const table of [connStats, processStats, networkStats, procExitEvents]) store.register(table);
    this.connStats = new ConnStatsCollector({ store, clock, agentId, admit });
    this.processStats = new ProcessStatsSampler({ store, clock, agentId, admit, ...(options.pids && { pids: options.pids }) });
    this.networkStats = new NetworkStatsSampler({
      store, clock, admitPod: (podId) => scope.admitPod(podId), ...(options.podIdOf && { podIdOf: options.podIdOf }),
    });
    this.procExits = new ProcExitEventsWriter(store, clock, agentId);
    this.intervals = {
      connStatsIntervalMs: options.connStatsIntervalMs ?? DEFAULTS.connStatsIntervalMs,
      processStatsIntervalMs: options.processStatsIntervalMs ?? DEFAULTS.processStatsIntervalMs,
      networkStatsIntervalMs: options.networkStatsIntervalMs ?? DEFAULTS.networkStatsIntervalMs,
    };
  }

  /**
   * The sink to drain the socket tracer into: every event goes to `primary`
   * (the connection tracker); opens, closes and process exits also feed the
   * stats. A method added to SocketEventSink must be forwarded here too.
   * Opens reach `primary` first: the agent's tracker notes the process's
   * cgroup there, which the namespace scoping of conn_stats then resolves
   * (the process may have exited by the time its open is drained).
   */
  sink(primary: SocketEventSink): SocketEventSink {
    const conns = this.connStats;
    const exits = this.procExits;
    const on = this.on;
    const scope = this.scope;
    const dropExit = (): void => { this.procExitsDropped++; };
    return {
      onOpen(event: ConnOpenEvent): void {
        primary.onOpen(event);
        conns.onOpen(event);
      },
      onData(event: DataEvent): void {
        primary.onData(event);
      },
      onClose(event: ConnCloseEvent): void {
        conns.onClose(event);
        primary.onClose(event);
      },
      onProcExit(event: ProcExitEvent): void {
        if (!on.process) dropExit();
        else if (scope.admitProcess(event.pid, event.processStartNs)) exits.write(event);
        primary.onProcExit?.(event);
      },
    };
  }

  /** Starts the periodic samplers; conn_stats needs the tracer (absent when capture is off). */
  start(tracer: SocketTracer | undefined): void {
    if (tracer !== undefined) {
      this.every(this.intervals.connStatsIntervalMs, (nowNs) => {
        if (!this.on.conn) return;
        this.connStats.beginScan(nowNs);
        tracer.scanConnections(this.connStats.observe);
        this.connStats.report(nowNs);
      });
    }
    this.every(this.intervals.processStatsIntervalMs, (nowNs) => { if (this.on.process) this.processStats.sample(nowNs); });
    this.every(this.intervals.networkStatsIntervalMs, (nowNs) => { if (this.on.network) this.networkStats.sample(nowNs); });
  }

  /** Switches the stats sources on or off (takes effect at the next sample). */
  setSources(sources: { readonly conn: boolean; readonly process: boolean; readonly network: boolean }): void {
    this.on.conn = sources.conn;
    this.on.process = sources.process;
    this.on.network = sources.network;
  }

  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers.length = 0;
  }

  /** Drop counters and gauges of every collector, for /metrics. */
  counters(): Record<string, number> {
    return {
      ...this.connStats.stats(),
      ...this.processStats.counters.snapshot(),
      ...this.networkStats.counters.snapshot(),
      'proc_exit_dropped.source_disabled': this.procExitsDropped,
    };
  }

  private every(intervalMs: number, run: (nowNs: number) => void): void {
    this.timers.push(setInterval(() => run(EpochClock.monotonicNs()), intervalMs));
  }
}
