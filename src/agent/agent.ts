import { setPriority } from 'node:os';
import { pino, type Logger } from 'pino';
import { httpEvents } from '../tables/http-events.ts';
import { mysqlEvents } from '../tables/mysql-events.ts';
import { pgsqlEvents } from '../tables/pgsql-events.ts';
import { dnsEvents } from '../tables/dns-events.ts';
import { redisEvents } from '../tables/redis-events.ts';
import type { SocketEventSink } from './bpf/events.ts';
import { SocketTracer } from './bpf/socket-tracer.ts';
import { findOpenConnections } from './bpf/open-connections.ts';
import { TlsTargets } from './bpf/tls-targets.ts';
import { EpochClock } from './clock.ts';
import { ConnectionTracker } from './conn/connection-tracker.ts';
import { CgroupIds } from './k8s/cgroup.ts';
import { KubeMetadata } from './k8s/kube-metadata.ts';
import type { PodIndex } from './k8s/pod-index.ts';
import { renderMetrics } from './metrics.ts';
import { RetentionManager, type RetentionPlan } from './retention/retention.manager.ts';
import { QueryServer } from './server/query-server.ts';
import { AgentStats, type AgentStatsSettings } from './stats/agent-stats.ts';
import { HttpEventsWriter } from './store/http-events.writer.ts';
import { MysqlEventsWriter } from './store/mysql-events.writer.ts';
import { PgsqlEventsWriter } from './store/pgsql-events.writer.ts';
import { DnsEventsWriter } from './store/dns-events.writer.ts';
import { RedisEventsWriter } from './store/redis-events.writer.ts';
import { DnsDatagramPairer } from './protocols/dns/dns-datagrams.ts';
import { TableStore } from './store/table-store.ts';
import type { PlanExport } from '../common/agent-plan.ts';
import { CollectorScope, DEFAULTS as SCOPE_DEFAULTS, scopeFromCollector, type PlanCollector, type ScopeSettings } from './privacy/collector-scope.ts';
import { ExportManager } from './export/export.manager.ts';
import type { SecretReader } from './export/export-pipeline.ts';

export const DEFAULTS = Object.freeze({
  listen: '127.0.0.1:7070',
  /** Memory the agent may use in all; tables get tableStorePercent of it. */
  memoryLimitBytes: 512 * 1024 * 1024,
  tableStorePercent: 60,
  /** Share of memoryLimitBytes for partial messages and reorder buffers. */
  trackerPercent: 10,
  maxBodyBytes: 512,
  /** How often the ring buffer is drained when it was empty last time. */
  drainIntervalMs: 10,
  /** Longest a drain burst may hold the event loop before yielding. */
  drainSliceMs: 50,
  /**
   * CPU the agent process may use, in millicores (0 = unlimited). Over it the
   * agent stops draining; the kernel ring buffer fills and the kernel drops
   * (counted as ringbufFull) without copying, so a saturated host pays for
   * the agent at most this much plus the probes themselves.
   */
  cpuLimitMillicores: 500,
  /** CPU the agent may bank while idle, so short bursts are not throttled. */
  cpuBurstMs: 200,
  /**
   * Scheduling niceness of the agent process: the workloads it observes win
   * every contended CPU slice, so tracing shows up as counted kernel drops
   * rather than as workload latency.
   */
  nice: 10,
  /**
   * Payload captured per syscall (the kernel's limit). HTTP/2 writes many
   * frames per syscall and a header block cut by this limit costs the rest of
   * the connection (HPACK state), so it covers a 16 KiB frame plus the frames
   * written with it.
   */
  maxCaptureBytes: 32 * 1024,
  ringBufferBytes: 16 * 1024 * 1024,
  /** Agent id in upids; a standalone agent is agent 1. */
  agentId: 1,
});

export interface AgentOptions {
  listen?: string;
  memoryLimitBytes?: number;
  maxBodyBytes?: number;
  cpuLimitMillicores?: number;
  /** Attach the eBPF programs (default). Off only for agents that play extra nodes in tests and benchmarks. */
  capture?: boolean;
  /** The Kubernetes Node this agent serves (cluster mode): names it in upids and in upid_to_node_name. */
  nodeName?: string;
  /** Pods of this node and EndpointSlices, kept current by the cluster agent; absent on a standalone host. */
  pods?: PodIndex;
  /** Checks callers of the query API (cluster agents: bearer token → TokenReview → RBAC); standalone agents bind loopback only. */
  authorize?: (authorization: string | undefined) => Promise<unknown>;
  /** Intervals and process/pod look-ups of conn_stats, process_stats, network_stats (src/agent/stats/). */
  stats?: AgentStatsSettings;
  /**
   * Collector scoping before any plan: sources, namespaces, dataAccess
   * (standalone flags). maxBodyBytes above is the body limit. A plan's
   * collector section replaces these.
   */
  scope?: Partial<Omit<ScopeSettings, 'maxBodyBytes'>>;
  /** Reads Secrets that export pipelines name (headers, TLS); absent: such pipelines report SecretNotFound. */
  secrets?: SecretReader;
  logger?: Logger;
}

/**
 * A node agent: eBPF socket capture → connection tracking → protocol parsers
 * → Arrow tables → query API. One per host (or per Kubernetes node).
 */
export class Agent {
  readonly store: TableStore;
  /** Per-table budgets and rollups of the applied plan. */
  readonly retention: RetentionManager;
  /** The plan's ExportPipelines (src/agent/export/). */
  readonly exports: ExportManager;
  private readonly options: Required<Omit<AgentOptions, 'logger' | 'nodeName' | 'pods' | 'stats' | 'secrets' | 'authorize' | 'scope'>>;
  /** Sources, namespaces, body limit and data access of the Collector (src/agent/privacy/). */
  readonly scope: CollectorScope;
  /** Kubernetes context of rows (df.ctx[...], upid_to_* look-ups); process look-ups only on a standalone host. */
  readonly metadata: KubeMetadata;
  /** The agent id in upids: 1 on a standalone host, derived from the node name in a cluster. */
  readonly asid: number;
  private readonly log: Logger;
  private readonly clock = new EpochClock();
  private readonly tracker: ConnectionTracker;
  /** conn_stats, process_stats, network_stats, proc_exit_events. */
  private readonly stats: AgentStats;
  /** What the ring buffer is drained into: the tracker, plus the stats' observers. */
  private readonly sink: SocketEventSink;
  private readonly dnsDatagrams: DnsDatagramPairer;
  private readonly server: QueryServer;
  private tracer: SocketTracer | undefined;
  /** Files carrying OpenSSL that the TLS uprobes are attached to (capture on). */
  private tlsTargets: TlsTargets | undefined;
  /** What watchOpenConnections found at start, for /metrics. */
  private readonly openConnections = { watched: 0, truncated: 0 };
  private drainTimer: NodeJS.Timeout | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private boundAddress: string | undefined;
  private readonly cpuBudget: CpuBudget;
  private throttledMs = 0;

  constructor(options: AgentOptions = {}) {
    this.options = {
      listen: options.listen ?? DEFAULTS.listen,
      memoryLimitBytes: options.memoryLimitBytes ?? DEFAULTS.memoryLimitBytes,
      maxBodyBytes: options.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
      cpuLimitMillicores: options.cpuLimitMillicores ?? DEFAULTS.cpuLimitMillicores,
      capture: options.capture ?? true,
    };
    this.cpuBudget = new CpuBudget(this.options.cpuLimitMillicores, DEFAULTS.cpuBurstMs);
    this.log = options.logger ?? pino({ name: 'wisp-agent' }, pino.destination(2));
    this.store = new TableStore({ totalBudgetBytes: Math.floor(this.options.memoryLimitBytes * DEFAULTS.tableStorePercent / 100), nowNs: () => this.clock.nowNs() });
    this.store.register(httpEvents);
    this.store.register(pgsqlEvents);
    this.store.register(mysqlEvents);
    this.store.register(redisEvents);
    this.store.register(dnsEvents);
    this.asid = options.nodeName ? asidOf(options.nodeName) : DEFAULTS.agentId;
    this.metadata = new KubeMetadata({
      cgroups: new CgroupIds(),
      ...(options.pods && { pods: options.pods }),
      ...(options.nodeName && { nodeName: options.nodeName }),
    });
    this.retention = new RetentionManager({ store: this.store, metadata: this.metadata });
    this.exports = new ExportManager({
      source: this.store, log: this.log, nowNs: () => this.clock.nowNs(), metadata: this.metadata,
      ...(options.secrets && { secrets: options.secrets }),
    });
    this.scope = new CollectorScope({
      namespaceOf: (pid, processStartNs) => this.metadata.namespaceOfProcess(pid, processStartNs),
      settings: { ...SCOPE_DEFAULTS.settings, ...options.scope, maxBodyBytes: this.options.maxBodyBytes },
    });
    const scope = this.scope;
    const httpWriter = new HttpEventsWriter(this.store, this.clock, this.asid);
    const pgsqlWriter = new PgsqlEventsWriter(this.store, this.clock, this.asid);
    const mysqlWriter = new MysqlEventsWriter(this.store, this.clock, this.asid);
    const redisWriter = new RedisEventsWriter(this.store, this.clock, this.asid);
    const dnsWriter = new DnsEventsWriter(this.store, this.clock, this.asid);
    this.tracker = new ConnectionTracker({
      maxBodyBytes: this.options.maxBodyBytes,
      maxTotalBytes: Math.floor(this.options.memoryLimitBytes * DEFAULTS.trackerPercent / 100),
      sinks: {
        onHttp: (exchange, conn) => { if (scope.http(exchange, conn)) httpWriter.write(exchange, conn); },
        onPgsql: (record, conn) => { if (scope.pgsql(record, conn)) pgsqlWriter.write(record, conn); },
        onMysql: (record, conn) => { if (scope.mysql(record, conn)) mysqlWriter.write(record, conn); },
        onRedis: (record, conn) => { if (scope.redis(record, conn)) redisWriter.write(record, conn); },
        onDns: (record, conn) => { if (scope.dns(record, conn)) dnsWriter.write(record, conn); },
      },
      onOpen: (conn) => this.metadata.observe(conn.pid, conn.processStartNs, conn.cgroupId ?? 0),
    });
    this.stats = new AgentStats({
      store: this.store, clock: this.clock, agentId: this.asid,
      podIdOf: (pid) => this.metadata.podIdOfPid(pid),
      // The stats tables follow the Collector's namespaces too (one rule: CollectorScope).
      scope: {
        admitProcess: (pid, processStartNs) => scope.admitProcess(pid, processStartNs),
        admitPod: (podId) => scope.admitNamespace(podId === '' ? '' : this.metadata.podId(podId, 'namespace')),
      },
      ...options.stats,
    });
    // UDP datagrams bypass the connection tracker: DNS pairs them by (socket, peer, txid).
    this.dnsDatagrams = new DnsDatagramPairer({ sinks: { onDns: (record, conn) => { if (scope.dns(record, conn)) dnsWriter.write(record, conn); } }, counters: this.tracker.counters });
    this.applyScope(this.scope.settings);
    const sink = this.stats.sink(this.tracker);
    sink.onDgram = (event) => this.dnsDatagrams.onDgram(event);
    this.sink = sink;
    this.server = new QueryServer({
      store: this.store,
      metadata: this.metadata,
      ...(options.authorize && { authorize: options.authorize }),
      listen: this.options.listen,
      nowNs: () => this.clock.nowNs(),
      metrics: () => {
        const own = renderMetrics({ store: this.store, rollups: this.retention.stats(), tracker: this.tracker.stats(), kernel: this.tracer?.counters() ?? {}, agent: this.agentCounters() });
        return own + this.exports.renderMetrics(own);
      },
    });
  }

  async start(): Promise<void> {
    try {
      setPriority(DEFAULTS.nice);
    } catch (error) {
      this.log.warn({ err: error }, 'cannot lower the agent priority');
    }
    if (this.options.capture) {
      this.tracer = SocketTracer.open({
        selfPid: process.pid,
        maxCaptureBytes: DEFAULTS.maxCaptureBytes,
        ringBufferBytes: DEFAULTS.ringBufferBytes,
        mode: 'full',
      });
      this.syncTlsProbes();
      this.watchOpenConnections(this.tracer);
    }
    try {
      const address = await this.server.start();
      this.boundAddress = address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
      this.log.info({ listen: this.boundAddress, capture: this.options.capture }, 'agent serving queries');
    } catch (error) {
      this.tracer?.close();
      throw error;
    }
    if (this.tracer) this.scheduleDrain(0);
    this.stats.start(this.tracer);
    this.tickTimer = setInterval(() => {
      const nowNs = this.clock.nowNs();
      this.tracker.tick(EpochClock.monotonicNs());
      this.tlsTargets?.scan();
      this.dnsDatagrams.tick(EpochClock.monotonicNs());
      this.store.tick(nowNs);
      this.retention.tick(nowNs);
    }, 1000);
  }

  /**
   * Applies a plan's table budgets, rollups and exports at once, without a
   * restart (the cluster's plan ConfigMap, or `wisp agent --standalone
   * --config`). Returns what could not be applied, one line each; the rest is applied.
   */
  applyPlan(plan: RetentionPlan & { readonly exports: readonly PlanExport[]; readonly collector?: Partial<PlanCollector> }): string[] {
    const problems = plan.collector === undefined ? [] : this.applyCollector(plan.collector);
    return [...problems, ...this.retention.apply(plan), ...this.applyExports(plan.exports)];
  }

  /**
   * Applies a Collector's sources, namespaces, maxBodyBytes and dataAccess
   * live; fields the section leaves out keep their current value.
   */
  applyCollector(collector: Partial<PlanCollector>): string[] {
    const { settings, problems } = scopeFromCollector(collector, this.scope.settings);
    this.applyScope(settings);
    return problems;
  }

  private applyScope(settings: ScopeSettings): void {
    this.scope.apply(settings);
    this.tracker.setMaxBodyBytes(settings.maxBodyBytes);
    this.stats.setSources({ conn: settings.sources.has('conn'), process: settings.sources.has('process'), network: settings.sources.has('network') });
    this.syncTlsProbes();
  }

  /**
   * TLS uprobes are attached only while the Collector's `tls` source is on:
   * a uprobe traps into the kernel on every SSL call of every process using
   * the library, whether or not rows are kept (docs/adr/0020-tls-uprobes.md).
   */
  private syncTlsProbes(): void {
    if (this.tracer === undefined) return;
    const wanted = this.scope.sourceOn('tls');
    if (wanted && this.tlsTargets === undefined) {
      this.tlsTargets = this.attachTls(this.tracer);
    } else if (!wanted && this.tlsTargets !== undefined) {
      this.tracer.detachTls();
      this.tlsTargets = undefined;
      this.log.info('TLS probes detached: source tls is off');
    }
  }

  /** Starts, changes and stops the plan's ExportPipelines (src/agent/export/). */
  applyExports(exports: readonly PlanExport[]): string[] {
    return this.exports.applyExports(exports);
  }

  /** host:port the query API is bound to, once started. */
  get queryAddress(): string | undefined {
    return this.boundAddress;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.drainTimer);
    clearInterval(this.tickTimer);
    this.stats.stop();
    // Delivers what the pipelines hold (bounded wait) before the query API goes away.
    await this.exports.stop();
    await this.server.stop();
    this.tracer?.close();
    this.log.info('agent stopped');
  }

  /**
   * Drains the ring buffer in bursts of at most drainSliceMs, yielding to the
   * event loop between bursts (queries stay responsive under load) and
   * sleeping drainIntervalMs when the buffer is empty. The kernel side writes
   * without wake-ups, so this timer is the only consumer schedule.
   */
  private scheduleDrain(delayMs: number): void {
    this.drainTimer = setTimeout(() => {
      if (this.stopped || !this.tracer) return;
      const waitMs = this.cpuBudget.waitMs();
      if (waitMs > 0) {
        this.throttledMs += waitMs;
        this.scheduleDrain(waitMs);
        return;
      }
      const deadline = performance.now() + DEFAULTS.drainSliceMs;
      let drained = 0;
      let records: number;
      do {
        records = this.tracer.drain(this.sink);
        drained += records;
      } while (records > 0 && performance.now() < deadline);
      this.scheduleDrain(drained > 0 && records > 0 ? 0 : DEFAULTS.drainIntervalMs);
    }, delayMs);
  }

  /**
   * TCP connections already open when the agent started: the kernel adopts
   * them on their next read or write (src/agent/bpf/open-connections.ts).
   * After the programs are attached, so none opened meanwhile is missed.
   */
  private watchOpenConnections(tracer: SocketTracer): void {
    const started = performance.now();
    const { pairs, truncated } = findOpenConnections({ selfPid: process.pid });
    this.openConnections.watched = tracer.watchFds(pairs);
    this.openConnections.truncated = truncated;
    this.log.info({ connections: this.openConnections.watched, truncated, ms: Math.round(performance.now() - started) }, 'watching connections open before start');
  }

  /** Agent-level counters for /metrics. */
  private agentCounters(): Record<string, number> {
    const tls = this.tlsTargets?.counters;
    return {
      cpu_throttled_ms: Math.round(this.throttledMs),
      open_connections_watched: this.openConnections.watched,
      open_connections_truncated: this.openConnections.truncated,
      // Zero while the tls source is off (no probes attached).
      tls_targets_attached: tls?.attached ?? 0,
      tls_targets_failed: tls?.attachFailed ?? 0,
      tls_processes_scanned: tls?.processesScanned ?? 0,
      ...this.stats.counters(),
      ...this.scope.counters(),
    };
  }

  /**
   * TLS plaintext capture (docs/adr/0020-tls-uprobes.md): the host's libssl
   * now, and what processes started later bring (container libssl copies,
   * binaries with OpenSSL linked in) on every tick's scan. A file that cannot
   * be attached is logged and counted; capture of everything else goes on.
   */
  private attachTls(tracer: SocketTracer): TlsTargets {
    const targets = new TlsTargets({
      attach: (path) => tracer.attachTls(path),
      onTarget: (path, error) => {
        if (error === undefined) this.log.info({ path }, 'TLS probes attached');
        else this.log.warn({ path, err: error }, 'cannot attach TLS probes');
      },
    });
    targets.attachHostLibraries();
    targets.scan();
    return targets;
  }
}

/**
 * A token bucket of CPU time for the whole process (all threads), refilled
 * at `limitMillicores` and capped at `burstMs`. waitMs() charges the CPU used
 * since the last call and says how long to pause before spending more.
 */
export class CpuBudget {
  private readonly ratePerMs: number;
  private readonly burstMs: number;
  private tokensMs: number;
  private lastWallMs = performance.now();
  private lastCpuMs = cpuMs();

  constructor(limitMillicores: number, burstMs: number) {
    this.ratePerMs = limitMillicores / 1000;
    this.burstMs = burstMs;
    this.tokensMs = burstMs;
  }

  waitMs(): number {
    if (this.ratePerMs <= 0) return 0;
    const wall = performance.now();
    const cpu = cpuMs();
    this.tokensMs = Math.min(this.burstMs, this.tokensMs + (wall - this.lastWallMs) * this.ratePerMs - (cpu - this.lastCpuMs));
    this.lastWallMs = wall;
    this.lastCpuMs = cpu;
    return this.tokensMs >= 0 ? 0 : Math.ceil(-this.tokensMs / this.ratePerMs);
  }
}

function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/**
 * A node's agent id: 32 bits of FNV-1a over the node name, never 0 or 1
 * (1 is the standalone agent), so upids of different nodes differ.
 */
export function asidOf(nodeName: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < nodeName.length; i++) {
    hash ^= nodeName.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash <= 1 ? hash + 2 : hash;
}
