// process_stats: samples /proc/<pid>/{stat,status,io} of a set of processes.
// Which processes is pluggable (`pids`); the default is every process under
// /proc, capped at maxProcesses per sample: one process costs ~0.1 ms of
// procfs reads and ~0.23 ms in all (bench/run.ts stats), so the cap bounds a
// sample to ~0.12 s of one core every 10 s. Kubernetes-aware callers pass the
// pod processes instead.
//
// Synchronous on purpose: small procfs reads finish without blocking on I/O,
// and one bounded burst per interval is cheaper than thousands of promises.

import { readdirSync, readFileSync } from 'node:fs';
import { processStats } from '../../tables/process-stats.ts';
import type { EpochClock } from '../clock.ts';
import { Counters } from '../conn/counters.ts';
import type { TableStore } from '../store/table-store.ts';
import { NS_PER_TICK, UpidCache } from '../upid.ts';
import { columnIndex } from '../store/row-writer.ts';
import { parseProcIo, parseProcStat, parseProcStatus } from './proc.parser.ts';

export const DEFAULTS = Object.freeze({
  procRoot: '/proc',
  maxProcesses: 512,
});

export interface ProcessStatsOptions {
  readonly store: TableStore;
  readonly clock: EpochClock;
  readonly agentId: number;
  /** Where procfs is mounted (tests point it elsewhere). */
  readonly procRoot?: string;
  /** The processes to sample; default: every pid under procRoot. */
  readonly pids?: () => Iterable<number>;
  /** Processes sampled per call at most; the rest are counted (`process_stats_dropped.over_limit`). */
  readonly maxProcesses?: number;
  /**
   * Whether rows of a process are stored (the Collector's namespaces,
   * CollectorScope.admitProcess); counts its own drops. Asked after
   * /proc/PID/stat (the start time tells reused pids apart), before the other reads.
   */
  readonly admit?: (pid: number, processStartNs: number) => boolean;
}

const C = Object.freeze({
  time: columnIndex(processStats, 'time_'), upid: columnIndex(processStats, 'upid'),
  majorFaults: columnIndex(processStats, 'major_faults'), minorFaults: columnIndex(processStats, 'minor_faults'),
  utime: columnIndex(processStats, 'cpu_utime_ns'), ktime: columnIndex(processStats, 'cpu_ktime_ns'),
  numThreads: columnIndex(processStats, 'num_threads'), vsize: columnIndex(processStats, 'vsize_bytes'),
  rss: columnIndex(processStats, 'rss_bytes'), rchar: columnIndex(processStats, 'rchar_bytes'),
  wchar: columnIndex(processStats, 'wchar_bytes'), readBytes: columnIndex(processStats, 'read_bytes'),
  writeBytes: columnIndex(processStats, 'write_bytes'),
});

/** Every numeric entry of a procfs directory, i.e. every process. */
export function listProcPids(procRoot: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync(procRoot)) {
    const pid = Number(name);
    if (Number.isInteger(pid) && pid > 0) pids.push(pid);
  }
  return pids;
}

export class ProcessStatsSampler {
  readonly counters = new Counters();
  private readonly store: TableStore;
  private readonly clock: EpochClock;
  private readonly upids: UpidCache;
  private readonly procRoot: string;
  private readonly pids: () => Iterable<number>;
  private readonly maxProcesses: number;
  private readonly admit: (pid: number, processStartNs: number) => boolean;
  private readonly time = { hi: 0, lo: 0 };

  constructor(options: ProcessStatsOptions) {
    this.store = options.store;
    this.clock = options.clock;
    this.upids = new UpidCache(options.agentId);
    this.procRoot = options.procRoot ?? DEFAULTS.procRoot;
    this.pids = options.pids ?? (() => listProcPids(this.procRoot));
    this.maxProcesses = options.maxProcesses ?? DEFAULTS.maxProcesses;
    this.admit = options.admit ?? (() => true);
  }

  /** Samples every process once, stamped `nowNs` (monotonic). Returns the rows written. */
  sample(nowNs: number): number {
    this.clock.toEpochParts(nowNs, this.time);
    let pids: Iterable<number>;
    try {
      pids = this.pids();
    } catch {
      this.counters.inc('process_stats_dropped.pid_source_failed');
      return 0;
    }
    let seen = 0;
    let rows = 0;
    for (const pid of pids) {
      if (++seen > this.maxProcesses) {
        this.counters.inc('process_stats_dropped.over_limit');
        continue;
      }
      if (this.sampleOne(pid)) rows++;
    }
    return rows;
  }

  private sampleOne(pid: number): boolean {
    const dir = `${this.procRoot}/${pid}`;
    const statText = this.read(`${dir}/stat`);
    if (statText === undefined) return false;
    const stat = parseProcStat(statText);
    if (stat === undefined) {
      this.counters.inc('process_stats_dropped.parse_error');
      return false;
    }
    if (!this.admit(pid, stat.startTicks * NS_PER_TICK)) return false;
    const statusText = this.read(`${dir}/status`);
    if (statusText === undefined) return false;
    const ioText = this.read(`${dir}/io`);
    if (ioText === undefined) return false;
    const status = parseProcStatus(statusText);
    const io = parseProcIo(ioText);
    if (status === undefined || io === undefined) {
      this.counters.inc('process_stats_dropped.parse_error');
      return false;
    }
    const w = this.store.writer(processStats.name);
    w.setInt64Parts(C.time, this.time.hi, this.time.lo);
    w.setString(C.upid, this.upids.get(pid, stat.startTicks * NS_PER_TICK));
    w.setInt(C.majorFaults, stat.majorFaults);
    w.setInt(C.minorFaults, stat.minorFaults);
    w.setInt(C.utime, stat.utimeTicks * NS_PER_TICK);
    w.setInt(C.ktime, stat.stimeTicks * NS_PER_TICK);
    w.setInt(C.numThreads, stat.numThreads);
    w.setInt(C.vsize, stat.vsizeBytes);
    w.setInt(C.rss, status.rssBytes);
    w.setInt(C.rchar, io.rcharBytes);
    w.setInt(C.wchar, io.wcharBytes);
    w.setInt(C.readBytes, io.readBytes);
    w.setInt(C.writeBytes, io.writeBytes);
    this.store.commit(processStats.name);
    return true;
  }

  /** A procfs file's text, or undefined (counted) when it cannot be read. */
  private read(path: string): string | undefined {
    try {
      return readFileSync(path, 'latin1');
    } catch (error) {
      // A process that exited between listing and reading is not a loss.
      const code = (error as NodeJS.ErrnoException).code;
      this.counters.inc(code === 'ENOENT' || code === 'ESRCH' ? 'process_stats_exited' : 'process_stats_dropped.unreadable');
      return undefined;
    }
  }
}
