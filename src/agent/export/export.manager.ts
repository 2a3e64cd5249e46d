// The agent's export side: one ExportPipeline per PlanExport, replaced when
// its plan entry changes, plus what the agent reports about them on
// /metrics and in its Lease (EXPORT_STATUS_ANNOTATION).
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { canonicalJson, type PlanExport } from '../../common/agent-plan.ts';
import type { MetadataResolver } from '../../query/metadata.ts';
import type { TableSource } from '../../query/source.ts';
import { parseUpid } from '../upid.ts';
import { encodeResource } from './otlp.encoding.ts';
import { ExportPipeline, type PipelineStatus, type SecretReader } from './export-pipeline.ts';
import type { ResourceResolver } from './span.encoder.ts';

export interface ExportManagerOptions {
  source: TableSource;
  log: Logger;
  nowNs: () => bigint;
  secrets?: SecretReader;
  /** Kubernetes context of a upid (pod, namespace, service) when the agent knows it. */
  metadata?: Pick<MetadataResolver, 'upid'>;
}

/**
 * Resource attributes per process: service.name is the Kubernetes service
 * when known, else the executable name (/proc/PID/comm); plus process.pid,
 * host.name and the pod. Cached per upid, bounded.
 */
export class ProcessResources implements ResourceResolver {
  private readonly cache = new Map<string, Uint8Array>();
  private readonly host = hostname();
  private readonly metadata: ExportManagerOptions['metadata'];
  private readonly maxEntries: number;

  constructor(metadata?: ExportManagerOptions['metadata'], maxEntries = 4096) {
    this.metadata = metadata;
    this.maxEntries = maxEntries;
  }

  resource(upid: string): Uint8Array {
    const hit = this.cache.get(upid);
    if (hit) return hit;
    const pid = parseUpid(upid)?.pid ?? 0;
    let comm = '';
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      // Exited already (short-lived clients): the command line the agent kept when it saw the connection open names it.
      const argv0 = (this.metadata?.upid(upid, 'cmdline') ?? '').split(/\s/)[0] ?? '';
      comm = argv0.slice(argv0.lastIndexOf('/') + 1).replace(/:$/, '');
    }
    comm ||= 'unknown';
    // Pixie's forms: pod "namespace/name", services "namespace/name" (several joined with ",").
    const podName = this.metadata?.upid(upid, 'pod_name') ?? '';
    const service = (this.metadata?.upid(upid, 'service_name') ?? '').split(',')[0]!;
    const pod = podName.includes('/') ? { namespace: podName.slice(0, podName.indexOf('/')), pod: podName.slice(podName.indexOf('/') + 1) } : undefined;
    const resource = encodeResource({
      'service.name': service ? service.slice(service.indexOf('/') + 1) : comm,
      'host.name': this.host,
      'process.pid': pid,
      'process.executable.name': comm,
      ...(pod && { 'k8s.pod.name': pod.pod, 'k8s.namespace.name': pod.namespace }),
    });
    if (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(upid, resource);
    return resource;
  }
}

export class ExportManager {
  private readonly options: ExportManagerOptions;
  private readonly pipelines = new Map<string, { fingerprint: string; pipeline: ExportPipeline }>();
  private readonly resources: ProcessResources;
  private readonly agentResource = encodeResource({ 'service.name': 'wisp-agent', 'host.name': hostname() });
  /** Counters of pipelines that were removed, so totals on /metrics never go down. */
  private readonly retired: PipelineStatus[] = [];
  private readonly stopping = new Set<Promise<void>>();

  constructor(options: ExportManagerOptions) {
    this.options = options;
    this.resources = new ProcessResources(options.metadata);
  }

  /**
   * Makes the running pipelines match `exports` at once: new ones start;
   * a changed one is replaced, the new incarnation continuing from where the
   * old one had read (no row twice) while the old one delivers its queue in
   * the background; removed ones stop reading and deliver their queue.
   * Returns problems, one line each (the pipeline still runs and reports them).
   */
  applyExports(exports: readonly PlanExport[]): string[] {
    const wanted = new Map(exports.map((e) => [e.key, e]));
    const handedOver = new Map<string, ReturnType<ExportPipeline['handOver']>>();
    for (const [key, entry] of this.pipelines) {
      const next = wanted.get(key);
      if (next && canonicalJson(next) === entry.fingerprint) continue;
      this.pipelines.delete(key);
      // Replaced: the new incarnation reads on from here. Removed: stop() reads once more first.
      if (next) handedOver.set(key, entry.pipeline.handOver());
      const stopping = entry.pipeline.stop().then(() => {
        this.retired.push(entry.pipeline.snapshot());
        this.stopping.delete(stopping);
      });
      this.stopping.add(stopping);
    }
    const problems: string[] = [];
    for (const plan of exports) {
      if (this.pipelines.has(plan.key)) continue;
      const pipeline = new ExportPipeline({
        plan, source: this.options.source, resources: this.resources, agentResource: this.agentResource,
        log: this.options.log, nowNs: this.options.nowNs, ...(this.options.secrets && { secrets: this.options.secrets }),
        ...(handedOver.has(plan.key) && { cursors: handedOver.get(plan.key)! }),
      });
      this.pipelines.set(plan.key, { fingerprint: canonicalJson(plan), pipeline });
      pipeline.start();
      const problem = pipeline.snapshot();
      if (problem.lastErrorReason === 'InvalidSource') problems.push(`export ${plan.key}: ${problem.lastError}`);
    }
    return problems;
  }

  /** Stops every pipeline, delivering what is queued for a bounded time. */
  async stop(): Promise<void> {
    this.applyExports([]);
    await Promise.all([...this.stopping]);
  }

  /** Per pipeline key, summed over its incarnations on this agent. */
  statuses(): PipelineStatus[] {
    const byKey = new Map<string, PipelineStatus>();
    const add = (s: PipelineStatus): void => {
      const total = byKey.get(s.key);
      if (!total) { byKey.set(s.key, { ...s, dropped: { ...s.dropped }, requests: { ...s.requests } }); return; }
      total.rowsRead += s.rowsRead;
      total.rowsFiltered += s.rowsFiltered;
      total.itemsExported += s.itemsExported;
      total.itemsRetried += s.itemsRetried;
      total.queuedItems += s.queuedItems;
      total.queuedBytes += s.queuedBytes;
      total.requests.ok += s.requests.ok;
      total.requests.failed += s.requests.failed;
      for (const [reason, n] of Object.entries(s.dropped)) total.dropped[reason] = (total.dropped[reason] ?? 0) + n;
      for (const field of ['lastSuccessTime', 'lastErrorTime'] as const) {
        if (s[field] && (!total[field] || s[field] > total[field])) total[field] = s[field];
      }
      if (s.lastErrorTime && s.lastErrorTime === total.lastErrorTime) {
        total.lastError = s.lastError;
        total.lastErrorReason = s.lastErrorReason;
      }
    };
    for (const s of this.retired) add(s);
    for (const { pipeline } of this.pipelines.values()) add(pipeline.snapshot());
    return [...byKey.values()];
  }

  /**
   * Export self-metrics plus, for prometheus destinations, the exported
   * series. `preceding`: the exposition this text is appended to (its metric
   * names are not repeated by a script's gauges).
   */
  renderMetrics(preceding = ''): string {
    const lines: string[] = [];
    const statuses = this.statuses();
    const label = (key: string) => `pipeline="${key.replace(/["\\\n]/g, '_')}"`;
    const family = (name: string, type: string, help: string, value: (s: PipelineStatus) => number): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const s of statuses) lines.push(`${name}{${label(s.key)}} ${value(s)}`);
    };
    family('wisp_export_rows_read_total', 'counter', 'Rows an export pipeline read from its source.', (s) => s.rowsRead);
    family('wisp_export_rows_filtered_total', 'counter', 'Rows a table source\'s filter did not keep (not counted as read).', (s) => s.rowsFiltered);
    family('wisp_export_items_exported_total', 'counter', 'Items (spans, data points) the destination accepted.', (s) => s.itemsExported);
    family('wisp_export_items_retried_total', 'counter', 'Items sent again after a retryable failure.', (s) => s.itemsRetried);
    family('wisp_export_queue_items', 'gauge', 'Items waiting or in flight.', (s) => s.queuedItems);
    family('wisp_export_queue_bytes', 'gauge', 'Encoded bytes waiting or in flight.', (s) => s.queuedBytes);
    lines.push('# HELP wisp_export_items_dropped_total Items dropped, by reason.', '# TYPE wisp_export_items_dropped_total counter');
    for (const s of statuses) for (const [reason, n] of Object.entries(s.dropped)) lines.push(`wisp_export_items_dropped_total{${label(s.key)},reason="${reason}"} ${n}`);
    lines.push('# HELP wisp_export_requests_total Export requests, by result.', '# TYPE wisp_export_requests_total counter');
    for (const s of statuses) lines.push(`wisp_export_requests_total{${label(s.key)},result="ok"} ${s.requests.ok}`, `wisp_export_requests_total{${label(s.key)},result="failed"} ${s.requests.failed}`);
    lines.push('# HELP wisp_export_last_success_timestamp_seconds When an export last succeeded.', '# TYPE wisp_export_last_success_timestamp_seconds gauge');
    for (const s of statuses) if (s.lastSuccessTime) lines.push(`wisp_export_last_success_timestamp_seconds{${label(s.key)}} ${Date.parse(s.lastSuccessTime) / 1000}`);
    lines.push('# HELP wisp_export_last_error_timestamp_seconds When the newest export error happened, with its reason (Unreachable, TLSError, Rejected, InvalidSource, …).', '# TYPE wisp_export_last_error_timestamp_seconds gauge');
    for (const s of statuses) if (s.lastErrorTime) lines.push(`wisp_export_last_error_timestamp_seconds{${label(s.key)},reason="${s.lastErrorReason ?? ''}"} ${Date.parse(s.lastErrorTime) / 1000}`);
    // Metric names already in this exposition: a script's gauge may not repeat one (Prometheus refuses the whole scrape).
    const taken = new Set([...preceding.split('\n'), ...lines].filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]!));
    for (const { pipeline } of this.pipelines.values()) if (pipeline.prometheus) pipeline.renderPrometheus(lines, taken);
    return `${lines.join('\n')}\n`;
  }
}
