// One ExportPipeline on one agent: every interval, read the rows added
// since the last read (TableCursor), turn them into OTLP items, and deliver
// them through a bounded queue with batching, retries and an overflow
// policy. Every row read ends up exported, dropped (with a reason) or still
// queued; the counters say which, at any time.
import type { RecordBatch } from 'apache-arrow';
import type { Logger } from 'pino';
import type { PlanExport } from '../../common/agent-plan.ts';
import { compileScript, executeLocal, QueryError, type CompiledQuery, type QueryResult, type TableSource } from '../../query/index.ts';
import { encodeRequest, encodeResource, type EncodedChunk } from './otlp.encoding.ts';
import { createTransport, type FailureReason, type OtlpTransport, type Signal, type TransportOptions } from './otlp.transport.ts';
import { ProtoWriter } from './protobuf.writer.ts';
import {
  DB_CLIENT_DURATION, HistogramSet, HTTP_CLIENT_DURATION, HTTP_SERVER_DURATION, observeDb, observeHttp,
} from './red.metrics.ts';
import { encodeHttpSpans, encodeMappedSpans, SpanSink, type ResourceResolver, type RowRange, type SpanMapping } from './span.encoder.ts';
import { TableCursor } from './table-cursor.ts';
import { compileTableFilter } from './table-filter.ts';
import { defaultMetricPrefix, planScriptMetrics, ScriptMetrics } from './script.metrics.ts';
import { ProcessMetrics } from './process.metrics.ts';

/** A process without a process_stats sample for this long has exited: its series end. */
const PROCESS_FORGET_NS = 5n * 60n * 1_000_000_000n;

export const DEFAULTS = Object.freeze({
  batchMaxItems: 4096,
  batchTimeoutMs: 5000,
  queueMaxItems: 16384,
  queueMaxBytes: 32 * 1024 * 1024,
  retryInitialIntervalMs: 1000,
  retryMaxIntervalMs: 30_000,
  retryMaxElapsedTimeMs: 5 * 60_000,
  requestTimeoutMs: 10_000,
  /** Histogram series per family; observations past it are dropped (seriesLimit). */
  maxSeries: 2000,
  /** How long stop() keeps delivering what is queued before counting the rest as dropped (shutdown). */
  shutdownFlushMs: 5000,
});

/** Tables the db-spans / db metrics read when this agent has them, with their OTel mapping. */
export const DB_TABLES: ReadonlyArray<{ table: string; system: string; operation: string; query: string }> = Object.freeze([
  { table: 'pgsql_events', system: 'postgresql', operation: 'req_cmd', query: 'req' },
  { table: 'mysql_events', system: 'mysql', operation: 'req_cmd', query: 'req_body' },
  { table: 'redis_events', system: 'redis', operation: 'req_cmd', query: 'req_args' },
]);

/** Reads the data of a Secret (headers, TLS material) named by the plan. */
export type SecretReader = (namespace: string, name: string) => Promise<Readonly<Record<string, string>>>;

export interface PipelineStatus {
  key: string;
  rowsRead: number;
  /** Rows of a filtered table source the filter did not keep (not part of rowsRead: never meant to leave). */
  rowsFiltered: number;
  itemsExported: number;
  itemsRetried: number;
  dropped: Record<string, number>;
  queuedItems: number;
  queuedBytes: number;
  requests: { ok: number; failed: number };
  lastSuccessTime?: string;
  lastError?: string;
  lastErrorTime?: string;
  /** CamelCase reason of the last error (Unreachable, TLSError, Rejected, ScriptFailed, SecretNotFound, …). */
  lastErrorReason?: string;
}

export interface PipelineOptions {
  plan: PlanExport;
  source: TableSource;
  resources: ResourceResolver;
  /** Resource of items not tied to one process (metrics). */
  agentResource: Uint8Array;
  secrets?: SecretReader;
  log: Logger;
  nowNs: () => bigint;
  /** Injected for tests of the backoff; defaults to Math.random. */
  random?: () => number;
  /** Read positions handed over by the pipeline this one replaces. */
  cursors?: ReadonlyMap<string, TableCursor>;
}

interface QueueItem {
  readonly chunk: EncodedChunk;
  readonly bytes: number;
  readonly enqueuedAtMs: number;
}

type SourceKind =
  | { kind: 'httpSpans' } | { kind: 'dbSpans' } | { kind: 'tableSpans'; table: string; mapping: SpanMapping; filter?: CompiledQuery }
  | { kind: 'scriptSpans'; script: string } | { kind: 'scriptMetrics'; script: string; metrics: ScriptMetrics }
  | { kind: 'httpMetrics' } | { kind: 'processMetrics' } | { kind: 'invalid'; message: string };

export class ExportPipeline {
  readonly key: string;
  readonly plan: PlanExport;
  private readonly options: PipelineOptions;
  private readonly cursors: Map<string, TableCursor>;
  /** Set once handOver() gave the read positions away: no more reads. */
  private readingDone = false;
  private readonly queue: QueueItem[] = [];
  private queuedItems = 0;
  private queuedBytes = 0;
  /** Items in the request being sent (still inside the byte bound). */
  private inflightItems = 0;
  private inflightBytes = 0;
  private readonly status: PipelineStatus;
  private readonly source: SourceKind;
  private readonly signal: Signal;
  private readonly histograms: HistogramSet[] = [];
  private readonly processes = new ProcessMetrics(DEFAULTS.maxSeries);
  private readonly startNs: bigint;
  private readonly writer = new ProtoWriter(1024 * 1024);
  private transport: OtlpTransport | undefined;
  private readTimer: NodeJS.Timeout | undefined;
  private sendTimer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;
  private retryWake: (() => void) | undefined;
  private stopped = false;
  private flushing = false;

  constructor(options: PipelineOptions) {
    this.options = options;
    this.plan = options.plan;
    this.key = options.plan.key;
    this.startNs = options.nowNs();
    this.cursors = new Map(options.cursors);
    this.status = { key: this.key, rowsRead: 0, rowsFiltered: 0, itemsExported: 0, itemsRetried: 0, dropped: {}, queuedItems: 0, queuedBytes: 0, requests: { ok: 0, failed: 0 } };
    this.source = resolveSource(options.plan, options.source);
    this.signal = this.source.kind === 'httpMetrics' || this.source.kind === 'processMetrics' || this.source.kind === 'scriptMetrics' ? 'metrics' : 'traces';
    if (this.source.kind === 'httpMetrics') {
      this.histograms.push(
        new HistogramSet(HTTP_SERVER_DURATION, DEFAULTS.maxSeries), new HistogramSet(HTTP_CLIENT_DURATION, DEFAULTS.maxSeries),
        new HistogramSet(DB_CLIENT_DURATION, DEFAULTS.maxSeries),
      );
    }
    if (this.source.kind === 'invalid') this.fail('InvalidSource', this.source.message);
  }

  get prometheus(): boolean {
    return 'prometheus' in this.plan.destination;
  }

  private get batchMaxItems(): number { return this.plan.batch.maxItems ?? DEFAULTS.batchMaxItems; }
  private get queueMaxItems(): number { return Math.max(this.plan.queue.maxItems ?? DEFAULTS.queueMaxItems, this.batchMaxItems); }
  private get queueMaxBytes(): number { return this.plan.queue.maxBytes ?? DEFAULTS.queueMaxBytes; }

  start(): void {
    this.readTimer = setInterval(() => this.read(), this.plan.intervalMs);
    this.read();
  }

  /** Stops reading and gives the read positions to the pipeline that replaces this one. */
  handOver(): ReadonlyMap<string, TableCursor> {
    clearInterval(this.readTimer);
    this.readingDone = true;
    return this.cursors;
  }

  /**
   * Reads once more (unless handed over), then delivers what is queued for
   * at most flushMs; the rest is counted as dropped (shutdown).
   */
  async stop(flushMs: number = DEFAULTS.shutdownFlushMs): Promise<void> {
    if (this.stopped) return;
    clearInterval(this.readTimer);
    this.read();
    this.readingDone = true;
    this.flushing = true;
    this.kick();
    const deadline = Date.now() + flushMs;
    while ((this.queue.length > 0 || this.sending) && Date.now() < deadline) {
      this.retryWake?.();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    this.stopped = true;
    this.retryWake?.();
    clearTimeout(this.sendTimer);
    await this.sending;
    for (const item of this.queue.splice(0)) this.drop('shutdown', item.chunk.items);
    this.queuedItems = 0;
    this.queuedBytes = 0;
    this.transport?.close();
  }

  snapshot(): PipelineStatus {
    return {
      ...this.status, dropped: { ...this.status.dropped }, requests: { ...this.status.requests },
      queuedItems: this.queuedItems + this.inflightItems, queuedBytes: this.queuedBytes + this.inflightBytes,
    };
  }

  /**
   * Series for a Prometheus scrape (prometheus destination only). `taken`:
   * metric names already in this scrape; a script's gauge that would repeat
   * one is left out and reported (MetricNameConflict).
   */
  renderPrometheus(lines: string[], taken: Set<string>): void {
    const start = lines.length;
    for (const histogram of this.histograms) histogram.renderPrometheus(lines, '');
    if (this.source.kind === 'processMetrics') this.processes.renderPrometheus(lines);
    for (let i = start; i < lines.length; i++) if (lines[i]!.startsWith('# TYPE ')) taken.add(lines[i]!.split(' ')[2]!);
    if (this.source.kind === 'scriptMetrics') {
      const clashes = this.source.metrics.renderPrometheus(lines, taken);
      if (clashes.length > 0) this.fail('MetricNameConflict', `metric ${clashes.join(', ')} of ${this.key} is already served on this agent; set destination.prometheus.metricPrefix`);
    }
  }

  /** One read: new rows → items → queue (or, for prometheus, into the served histograms). Never throws. */
  read(): void {
    if (this.stopped || this.readingDone || this.source.kind === 'invalid') return;
    try {
      switch (this.source.kind) {
        case 'httpSpans': this.readSpans('http_events', (batch, rows, sink) => encodeHttpSpans(batch, rows, this.options.resources, sink)); break;
        case 'dbSpans':
          for (const db of DB_TABLES) {
            if (!this.options.source.getTable(db.table)) continue;
            const mapping: SpanMapping = {
              nameColumn: db.operation, fallbackName: db.system,
              attributes: [[db.query, 'db.query.text'], [db.operation, 'db.operation.name']],
              constants: [['db.system.name', db.system]], connection: true,
            };
            this.readSpans(db.table, (batch, rows, sink) => encodeMappedSpans(batch, rows, mapping, this.options.resources, sink, this.options.agentResource));
          }
          break;
        case 'tableSpans': {
          const { mapping, filter } = this.source;
          if (filter) this.readFilteredSpans(this.source.table, filter, mapping);
          else this.readSpans(this.source.table, (batch, rows, sink) => encodeMappedSpans(batch, rows, mapping, this.options.resources, sink, this.options.agentResource));
          break;
        }
        case 'scriptSpans': this.readScript(this.source.script); break;
        case 'scriptMetrics': this.readScriptMetrics(this.source.script, this.source.metrics); break;
        case 'httpMetrics': this.readRedMetrics(); break;
        case 'processMetrics': this.readProcessMetrics(); break;
      }
      this.accountExpired();
    } catch (error) {
      this.fail('ReadFailed', `read ${this.key}: ${(error as Error).message}`);
    }
    this.kick();
  }

  private cursor(table: string): TableCursor {
    let cursor = this.cursors.get(table);
    if (!cursor) {
      cursor = new TableCursor(table);
      this.cursors.set(table, cursor);
    }
    return cursor;
  }

  private accountExpired(): void {
    let expired = 0;
    for (const cursor of this.cursors.values()) {
      expired += cursor.expiredRows;
      cursor.expiredRows = 0;
    }
    if (expired > 0) {
      this.status.rowsRead += expired;
      this.drop('expired', expired);
    }
  }

  /**
   * Encodes the new rows of `table` into chunks. With overflow block, only
   * as many rows as the queue has room for are read; the rest wait in the
   * table (where retention may expire them, counted) until the queue drains.
   */
  private readSpans(table: string, encode: (batch: RecordBatch, rows: RowRange, sink: SpanSink) => number): void {
    if (!this.options.source.getTable(table)) {
      this.fail('TableNotFound', `table ${table} is not produced by this agent`);
      return;
    }
    const cursor = this.cursor(table);
    for (const { batch, from } of cursor.next(this.options.source)) {
      const to = this.plan.overflow === 'block' ? Math.min(batch.numRows, from + this.room()) : batch.numRows;
      if (to <= from) break;
      const sink = new SpanSink(this.batchMaxItems);
      this.status.rowsRead += encode(batch, { from, to }, sink);
      cursor.markRead(batch, to);
      for (const chunk of sink.finish()) this.enqueue(chunk);
    }
  }

  /**
   * Table rows where the compiled filter (table-filter.ts) holds, as spans.
   * The unread rows are run through the query executor in one go and marked
   * read whatever the filter kept: rowsRead counts the rows kept, rowsFiltered
   * the others. With overflow block only as many rows as the queue has room
   * for are read (a filter keeps at most as many as it reads).
   */
  private readFilteredSpans(table: string, filter: CompiledQuery, mapping: SpanMapping): void {
    const source = this.options.source;
    if (!source.getTable(table)) {
      this.fail('TableNotFound', `table ${table} is not produced by this agent`);
      return;
    }
    const cursor = this.cursor(table);
    const taken: Array<{ batch: RecordBatch; to: number }> = [];
    const slices: RecordBatch[] = [];
    let rows = 0;
    let room = this.plan.overflow === 'block' ? this.room() : Number.POSITIVE_INFINITY;
    for (const { batch, from } of cursor.next(source)) {
      const to = Math.min(batch.numRows, from + room);
      if (to <= from) break;
      room -= to - from;
      rows += to - from;
      taken.push({ batch, to });
      slices.push(from > 0 || to < batch.numRows ? batch.slice(from, to) : batch);
    }
    if (rows === 0) return;
    const view: TableSource = {
      listTables: () => source.listTables(),
      getTable: (name) => source.getTable(name),
      scan: (name) => (name === table ? slices : []),
    };
    let result: QueryResult;
    try {
      result = executeLocal(filter, view, { maxOutputRows: rows });
    } catch (error) {
      // The rows stay unread: the next run (or a fixed filter) reads them.
      this.fail('FilterFailed', `run filter of ${this.key}: ${(error as Error).message}`);
      return;
    }
    for (const { batch, to } of taken) cursor.markRead(batch, to);
    const sink = new SpanSink(this.batchMaxItems);
    let kept = 0;
    for (const batch of result.outputs[0]?.table.batches ?? []) {
      kept += encodeMappedSpans(batch, { from: 0, to: batch.numRows }, mapping, this.options.resources, sink, this.options.agentResource);
    }
    this.status.rowsRead += kept;
    this.status.rowsFiltered += rows - kept;
    for (const chunk of sink.finish()) this.enqueue(chunk);
  }

  /**
   * Runs a script over a view of the store that shows only rows not read
   * before, and marks them read when it succeeded. On failure (ScriptFailed)
   * the rows stay unread and the result is undefined.
   */
  private runScript(script: string): QueryResult | undefined {
    const fresh = new Map<string, RecordBatch[]>();
    /** Batches handed to the script, to mark read once it succeeded. */
    const taken: Array<[TableCursor, RecordBatch]> = [];
    const source = this.options.source;
    // The script sees only rows not read before: each run exports the rows added since the last one.
    const view: TableSource = {
      listTables: () => source.listTables(),
      getTable: (name) => source.getTable(name),
      scan: (name) => {
        if (!fresh.has(name)) {
          const batches: RecordBatch[] = [];
          const cursor = this.cursor(name);
          // Whole batches (the rest of a partly read one first). With block, stop at the first that does
          // not fit, unless nothing else is queued (maxOutputRows still bounds what the script returns).
          let room = this.room();
          for (const { batch, from } of cursor.next(source)) {
            const rows = batch.numRows - from;
            if (this.plan.overflow === 'block' && rows > room && batches.length + this.queue.length + this.inflightItems > 0) break;
            room -= rows;
            batches.push(from > 0 ? batch.slice(from) : batch);
            taken.push([cursor, batch]);
          }
          fresh.set(name, batches);
        }
        return fresh.get(name)!;
      },
    };
    let result;
    try {
      // Compiled per run: relative start_time/end_time are relative to now.
      const compiled = compileScript(script, source, { nowNs: this.options.nowNs() });
      result = executeLocal(compiled, view, { maxOutputRows: this.queueMaxItems });
    } catch (error) {
      // The rows stay unread: a fixed script (a new plan) reads them.
      this.fail('ScriptFailed', `run script of ${this.key}: ${(error as Error).message}`);
      return undefined;
    }
    for (const [cursor, batch] of taken) cursor.markRead(batch);
    return result;
  }

  private readScript(script: string): void {
    const result = this.runScript(script);
    if (!result) return;
    const mapping = scriptMapping(this.plan);
    for (const output of result.outputs) {
      const sink = new SpanSink(this.batchMaxItems);
      let rows = 0;
      for (const batch of output.table.batches) rows += encodeMappedSpans(batch, { from: 0, to: batch.numRows }, { ...mapping, fallbackName: output.name }, this.options.resources, sink, this.options.agentResource);
      this.status.rowsRead += rows;
      for (const chunk of sink.finish()) this.enqueue(chunk);
    }
  }

  /**
   * A script to a prometheus destination: each successful run replaces the
   * served gauges (script.metrics.ts). Rows read = served + dropped
   * (seriesLimit, duplicateSeries); nothing is queued.
   */
  private readScriptMetrics(script: string, metrics: ScriptMetrics): void {
    const result = this.runScript(script);
    if (!result) return;
    const { rows, overSeriesLimit, duplicates } = metrics.update(result.outputs);
    this.status.rowsRead += rows;
    this.status.itemsExported += rows - overSeriesLimit - duplicates;
    if (overSeriesLimit > 0) {
      this.drop('seriesLimit', overSeriesLimit);
      this.fail('SeriesLimit', `${this.key}: ${overSeriesLimit} rows would open series past the limit of ${metrics.maxSeries}; aggregate by fewer labels or raise destination.prometheus.maxSeries`);
    }
    if (duplicates > 0) this.drop('duplicateSeries', duplicates);
    this.status.lastSuccessTime = new Date().toISOString();
  }

  /**
   * http-metrics: HTTP server/client durations from http_events, and
   * db.client.operation.duration from each database table this agent has.
   */
  private readRedMetrics(): void {
    const [server, client, db] = this.histograms as [HistogramSet, HistogramSet, HistogramSet];
    if (!this.options.source.getTable('http_events')) {
      this.fail('TableNotFound', 'table http_events is not produced by this agent');
      return;
    }
    const overflowBefore = server.overflowed + client.overflowed + db.overflowed;
    const cursor = this.cursor('http_events');
    for (const { batch, from } of cursor.next(this.options.source)) {
      this.status.rowsRead += observeHttp(batch, { from, to: batch.numRows }, server, client);
      cursor.markRead(batch);
    }
    for (const table of DB_TABLES) {
      if (!this.options.source.getTable(table.table)) continue;
      const dbCursor = this.cursor(table.table);
      for (const { batch, from } of dbCursor.next(this.options.source)) {
        this.status.rowsRead += observeDb(batch, { from, to: batch.numRows }, table.system, table.operation, db);
        dbCursor.markRead(batch);
      }
    }
    const overflowed = server.overflowed + client.overflowed + db.overflowed - overflowBefore;
    if (overflowed > 0) this.drop('seriesLimit', overflowed);
    if (this.prometheus) {
      // Served on every scrape: rows observed are exported once they are in the histograms.
      this.status.itemsExported = this.status.rowsRead - (this.status.dropped['seriesLimit'] ?? 0);
      this.status.lastSuccessTime = new Date().toISOString();
      return;
    }
    const w = new ProtoWriter(64 * 1024);
    let points = 0;
    for (const histogram of this.histograms) points += histogram.encodeMetric(w, this.startNs, this.options.nowNs());
    if (points > 0) this.enqueue({ resource: this.options.agentResource, payload: w.finish(), items: points });
  }

  /** process-metrics: the newest process_stats sample per process, as OTel process metrics. */
  private readProcessMetrics(): void {
    const table = 'process_stats';
    if (!this.options.source.getTable(table)) {
      this.fail('TableNotFound', `table ${table} is not produced by this agent`);
      return;
    }
    const cursor = this.cursor(table);
    const overflowBefore = this.processes.overflowed;
    for (const { batch, from } of cursor.next(this.options.source)) {
      this.status.rowsRead += this.processes.observe(batch, { from, to: batch.numRows });
      cursor.markRead(batch);
    }
    if (this.processes.overflowed > overflowBefore) this.drop('seriesLimit', this.processes.overflowed - overflowBefore);
    this.processes.evictOlderThan(this.options.nowNs() - PROCESS_FORGET_NS);
    if (this.prometheus) {
      this.status.itemsExported = this.status.rowsRead - (this.status.dropped['seriesLimit'] ?? 0);
      this.status.lastSuccessTime = new Date().toISOString();
      return;
    }
    for (const chunk of this.processes.encode(this.options.resources, this.startNs)) this.enqueue(chunk);
  }

  /** Items the queue can take now (0 when its byte bound is reached). */
  private room(): number {
    if (this.queuedBytes + this.inflightBytes >= this.queueMaxBytes) return 0;
    return Math.max(0, this.queueMaxItems - this.queuedItems - this.inflightItems);
  }

  private enqueue(chunk: EncodedChunk): void {
    if (this.prometheus) return;
    const bytes = chunk.payload.length + chunk.resource.length;
    while (!this.fits(chunk.items, bytes)) {
      if (this.plan.overflow === 'dropOldest' && this.queue.length > 0) {
        const oldest = this.queue.shift()!;
        this.queuedItems -= oldest.chunk.items;
        this.queuedBytes -= oldest.bytes;
        this.drop('queueFull', oldest.chunk.items);
      } else if (this.plan.overflow === 'block' && this.queue.length === 0 && this.inflightItems === 0) {
        break; // one batch larger than the bound: let it through rather than stall forever
      } else if (this.plan.overflow === 'block') {
        break; // read only what fits (readSpans checks first); a chunk of that read is admitted
      } else {
        this.drop('queueFull', chunk.items);
        return;
      }
    }
    this.queue.push({ chunk, bytes, enqueuedAtMs: Date.now() });
    this.queuedItems += chunk.items;
    this.queuedBytes += bytes;
  }

  private fits(items: number, bytes: number): boolean {
    return this.queuedItems + this.inflightItems + items <= this.queueMaxItems && this.queuedBytes + this.inflightBytes + bytes <= this.queueMaxBytes;
  }

  private drop(reason: string, items: number): void {
    this.status.dropped[reason] = (this.status.dropped[reason] ?? 0) + items;
  }

  private fail(reason: string, message: string): void {
    if (this.status.lastError !== message) this.options.log.warn({ pipeline: this.key, reason }, message);
    this.status.lastError = message;
    this.status.lastErrorReason = reason;
    this.status.lastErrorTime = new Date().toISOString();
  }

  /** Starts the sender when a batch is due: full, timed out, or flushing. */
  private kick(): void {
    if (this.sending || this.stopped || this.queue.length === 0) return;
    const oldestAgeMs = Date.now() - this.queue[0]!.enqueuedAtMs;
    const timeoutMs = this.plan.batch.timeoutMs ?? DEFAULTS.batchTimeoutMs;
    if (this.queuedItems >= this.batchMaxItems || oldestAgeMs >= timeoutMs || this.flushing) {
      this.sending = this.sendAll().finally(() => { this.sending = undefined; this.kick(); });
    } else {
      clearTimeout(this.sendTimer);
      this.sendTimer = setTimeout(() => this.kick(), timeoutMs - oldestAgeMs);
    }
  }

  private async sendAll(): Promise<void> {
    const timeoutMs = this.plan.batch.timeoutMs ?? DEFAULTS.batchTimeoutMs;
    while (!this.stopped && this.queue.length > 0) {
      const due = this.queuedItems >= this.batchMaxItems || Date.now() - this.queue[0]!.enqueuedAtMs >= timeoutMs || this.flushing;
      if (!due) return;
      const batch: QueueItem[] = [];
      let items = 0;
      while (this.queue.length > 0 && (batch.length === 0 || items + this.queue[0]!.chunk.items <= this.batchMaxItems)) {
        const item = this.queue.shift()!;
        batch.push(item);
        items += item.chunk.items;
        this.queuedItems -= item.chunk.items;
        this.queuedBytes -= item.bytes;
        this.inflightItems += item.chunk.items;
        this.inflightBytes += item.bytes;
      }
      try {
        await this.deliver(batch, items);
      } finally {
        this.inflightItems -= items;
        for (const item of batch) this.inflightBytes -= item.bytes;
      }
    }
  }

  /** Sends one request, retrying retryable failures with exponential backoff and jitter until maxElapsedTime. */
  private async deliver(batch: readonly QueueItem[], items: number): Promise<void> {
    const body = encodeRequest(this.writer, batch.map((b) => b.chunk));
    const firstAttemptMs = Date.now();
    const initialMs = this.plan.retry.initialIntervalMs ?? DEFAULTS.retryInitialIntervalMs;
    const maxMs = this.plan.retry.maxIntervalMs ?? DEFAULTS.retryMaxIntervalMs;
    const maxElapsedMs = this.plan.retry.maxElapsedTimeMs ?? DEFAULTS.retryMaxElapsedTimeMs;
    const random = this.options.random ?? Math.random;
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.sendOnce(body);
      if (outcome.ok) {
        this.status.requests.ok++;
        this.status.itemsExported += items - outcome.rejectedItems;
        if (outcome.rejectedItems > 0) {
          this.drop('rejected', outcome.rejectedItems);
          this.fail('PartiallyRejected', `receiver rejected ${outcome.rejectedItems} of ${items} items${outcome.message ? `: ${outcome.message}` : ''}`);
        }
        this.status.lastSuccessTime = new Date().toISOString();
        return;
      }
      this.status.requests.failed++;
      this.fail(outcome.reason, outcome.message);
      if (!outcome.retryable || this.plan.retry.maxElapsedTimeMs === 0) {
        this.drop(outcome.retryable ? 'retryExhausted' : 'rejected', items);
        return;
      }
      const backoffMs = Math.min(maxMs, initialMs * 2 ** attempt) * (0.5 + random() / 2);
      if (this.stopped || Date.now() + backoffMs - firstAttemptMs > maxElapsedMs) {
        this.drop(this.stopped ? 'shutdown' : 'retryExhausted', items);
        return;
      }
      this.status.itemsRetried += items;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoffMs);
        this.retryWake = () => { clearTimeout(timer); if (this.stopped) resolve(); };
      });
      this.retryWake = undefined;
    }
  }

  private async sendOnce(body: Uint8Array) {
    try {
      this.transport ??= await this.openTransport();
    } catch (error) {
      const reason = (error as { reason?: FailureReason | 'SecretNotFound' }).reason ?? 'Rejected';
      return { ok: false as const, retryable: true, reason: reason as FailureReason, message: (error as Error).message };
    }
    return this.transport.send(this.signal, body);
  }

  private async openTransport(): Promise<OtlpTransport> {
    const destination = this.plan.destination;
    if (!('otlp' in destination)) throw new Error('no OTLP destination');
    const otlp = destination.otlp;
    const headers: Record<string, string> = {};
    const tls: Partial<TransportOptions> = {};
    const read = async (ref: { namespace: string; name: string }, what: string) => {
      if (!this.options.secrets) throw Object.assign(new Error(`read Secret ${ref.namespace}/${ref.name} (${what}): this agent has no Secret access`), { reason: 'SecretNotFound' });
      try {
        return await this.options.secrets(ref.namespace, ref.name);
      } catch (cause) {
        throw Object.assign(new Error(`read Secret ${ref.namespace}/${ref.name} (${what}): ${(cause as Error).message}`, { cause }), { reason: 'SecretNotFound' });
      }
    };
    if (otlp.headersSecret) Object.assign(headers, await read(otlp.headersSecret, 'headers'));
    if (otlp.tls?.secret) {
      const data = await read(otlp.tls.secret, 'TLS');
      if (data['ca.crt']) tls.caPem = data['ca.crt'];
      if (data['tls.crt']) tls.certPem = data['tls.crt'];
      if (data['tls.key']) tls.keyPem = data['tls.key'];
    }
    return createTransport({
      endpoint: otlp.endpoint,
      protocol: otlp.protocol === 'http/protobuf' ? 'http/protobuf' : 'grpc',
      insecure: otlp.insecure,
      headers,
      ...tls,
      ...(otlp.tls?.serverName && { serverName: otlp.tls.serverName }),
      ...(otlp.tls?.insecureSkipVerify && { insecureSkipVerify: true }),
      compression: otlp.compression === 'none' ? 'none' : 'gzip',
      timeoutMs: otlp.timeoutMs ?? DEFAULTS.requestTimeoutMs,
    });
  }
}

function resolveSource(plan: PlanExport, source: TableSource): SourceKind {
  const { preset, table, script } = plan.source;
  if (preset === 'http-spans') return { kind: 'httpSpans' };
  if (preset === 'db-spans') return { kind: 'dbSpans' };
  if (preset === 'http-metrics') return { kind: 'httpMetrics' };
  if (preset === 'process-metrics') return { kind: 'processMetrics' };
  if (preset !== undefined) return { kind: 'invalid', message: `unknown preset ${preset}` };
  if (plan.source.filter !== undefined && table === undefined) return { kind: 'invalid', message: 'source.filter applies only to a table source' };
  if (table !== undefined) {
    if ('prometheus' in plan.destination) return { kind: 'invalid', message: 'a table source exports spans (otlp); to serve numbers of a table to prometheus, use a script' };
    const spec = source.getTable(table);
    const columns = plan.source.columns ?? spec?.columns.map((c) => c.name) ?? [];
    const attributes = plan.source.attributes
      ? Object.entries(plan.source.attributes) as Array<[string, string]>
      : columns.filter((c) => c !== 'time_' && c !== 'latency').map((c): [string, string] => [c, c]);
    const mapping = { fallbackName: table, attributes };
    if (plan.source.filter === undefined) return { kind: 'tableSpans', table, mapping };
    try {
      return { kind: 'tableSpans', table, mapping, filter: compileTableFilter(table, plan.source.filter, source) };
    } catch (error) {
      return { kind: 'invalid', message: `compile filter: ${(error as Error).message.split('\n')[0]}` };
    }
  }
  if (script !== undefined) {
    let compiled: CompiledQuery;
    try {
      compiled = compileScript(script, source);
    } catch (error) {
      // A QueryError prints as line:column: message.
      return { kind: 'invalid', message: `compile script: ${(error instanceof QueryError ? error.toString() : (error as Error).message).split('\n')[0]}` };
    }
    if (!('prometheus' in plan.destination)) return { kind: 'scriptSpans', script };
    const { metricPrefix, maxSeries } = plan.destination.prometheus;
    try {
      const outputs = planScriptMetrics(compiled.outputs, metricPrefix ?? defaultMetricPrefix(plan.key));
      return { kind: 'scriptMetrics', script, metrics: new ScriptMetrics(outputs, { maxSeries: maxSeries ?? DEFAULTS.maxSeries, pipeline: plan.key }) };
    } catch (error) {
      return { kind: 'invalid', message: `script to prometheus: ${(error as Error).message}` };
    }
  }
  return { kind: 'invalid', message: 'source has neither preset, table nor script' };
}

function scriptMapping(plan: PlanExport): Omit<SpanMapping, 'fallbackName'> {
  const attributes = Object.entries(plan.source.attributes ?? {}) as Array<[string, string]>;
  return { ...(plan.source.nameColumn && { nameColumn: plan.source.nameColumn }), attributes };
}

export { encodeResource };
