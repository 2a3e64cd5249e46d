// RED metrics (rate, errors, duration) from request rows: cumulative
// histograms with OTel semantic-convention names, exported as OTLP
// histograms or rendered for a Prometheus scrape. Series are bounded;
// rows that would open a series past the bound are counted, not kept.
import type { RecordBatch } from 'apache-arrow';
import type { Vector } from '../../query/vector.ts';
import { column, F, int64Words, stringSpan, Temporality, wordsToNumber } from './otlp.encoding.ts';
import type { ProtoWriter } from './protobuf.writer.ts';
import type { RowRange } from './span.encoder.ts';

/** OTel's recommended boundaries for HTTP and DB durations, in seconds. */
export const DURATION_BOUNDS_SECONDS = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]);

export interface HistogramFamily {
  /** OTel name, e.g. http.server.request.duration. */
  readonly name: string;
  readonly description: string;
  readonly unit: 's';
  /** Attribute names, in series-key order. */
  readonly attributes: readonly string[];
}

export const HTTP_SERVER_DURATION: HistogramFamily = Object.freeze({
  name: 'http.server.request.duration', description: 'Duration of HTTP server requests.', unit: 's',
  attributes: Object.freeze(['http.request.method', 'http.response.status_code', 'http.route']),
});
export const HTTP_CLIENT_DURATION: HistogramFamily = Object.freeze({
  name: 'http.client.request.duration', description: 'Duration of HTTP client requests.', unit: 's',
  attributes: Object.freeze(['http.request.method', 'http.response.status_code', 'server.address', 'server.port']),
});
export const DB_CLIENT_DURATION: HistogramFamily = Object.freeze({
  name: 'db.client.operation.duration', description: 'Duration of database client operations.', unit: 's',
  attributes: Object.freeze(['db.system.name', 'db.operation.name']),
});

interface Series {
  readonly labels: readonly string[];
  readonly buckets: Float64Array;
  count: number;
  sumSeconds: number;
}

/** One histogram family's cumulative series, keyed by attribute values. */
export class HistogramSet {
  readonly family: HistogramFamily;
  readonly series = new Map<string, Series>();
  private readonly maxSeries: number;
  /** Observations refused because the series bound was reached. */
  overflowed = 0;

  constructor(family: HistogramFamily, maxSeries: number) {
    this.family = family;
    this.maxSeries = maxSeries;
  }

  /** Adds one observation; false when it would open a series past the bound. */
  observe(key: string, labels: () => string[], seconds: number): boolean {
    let series = this.series.get(key);
    if (!series) {
      if (this.series.size >= this.maxSeries) {
        this.overflowed++;
        return false;
      }
      series = { labels: labels(), buckets: new Float64Array(DURATION_BOUNDS_SECONDS.length + 1), count: 0, sumSeconds: 0 };
      this.series.set(key, series);
    }
    let bucket = 0;
    while (bucket < DURATION_BOUNDS_SECONDS.length && seconds > DURATION_BOUNDS_SECONDS[bucket]!) bucket++;
    series.buckets[bucket]!++;
    series.count++;
    series.sumSeconds += seconds;
    return true;
  }

  /** A Metric field (cumulative histogram) with every series; undefined when empty. */
  encodeMetric(w: ProtoWriter, startNs: bigint, nowNs: bigint): number {
    if (this.series.size === 0) return 0;
    w.begin(F.metrics);
    w.string(F.metricName, this.family.name);
    w.string(F.metricDescription, this.family.description);
    w.string(F.metricUnit, this.family.unit);
    w.begin(F.histogram);
    const start = splitNs(startNs);
    const now = splitNs(nowNs);
    for (const series of this.series.values()) {
      w.begin(F.dataPoints);
      for (let i = 0; i < this.family.attributes.length; i++) {
        w.begin(F.hAttributes);
        w.string(F.key, this.family.attributes[i]!);
        w.begin(F.value);
        const value = series.labels[i]!;
        if (/^\d{1,9}$/.test(value) && (this.family.attributes[i]!.endsWith('status_code') || this.family.attributes[i]!.endsWith('.port'))) w.int64(F.intValue, Number(value));
        else w.string(F.stringValue, value);
        w.end();
        w.end();
      }
      w.fixed64Parts(F.hStartTime, start.hi, start.lo);
      w.fixed64Parts(F.hTime, now.hi, now.lo);
      w.fixed64(F.hCount, series.count);
      w.double(F.hSum, series.sumSeconds);
      w.packedFixed64(F.hBucketCounts, series.buckets);
      w.packedDouble(F.hBounds, DURATION_BOUNDS_SECONDS);
      w.end();
    }
    w.uint32(F.temporality, Temporality.CUMULATIVE);
    w.end();
    w.end();
    return this.series.size;
  }

  /** Prometheus text exposition: `<name>_seconds_bucket/_sum/_count`, dots as underscores. */
  renderPrometheus(lines: string[], extraLabels: string): void {
    if (this.series.size === 0) return;
    const name = `${this.family.name.replace(/\./g, '_')}_seconds`;
    const labelNames = this.family.attributes.map((a) => a.replace(/\./g, '_'));
    lines.push(`# HELP ${name} ${this.family.description}`, `# TYPE ${name} histogram`);
    for (const series of this.series.values()) {
      const labels = labelNames.map((n, i) => `${n}="${escapeLabel(series.labels[i]!)}"`).join(',') + extraLabels;
      let cumulative = 0;
      for (let i = 0; i < series.buckets.length; i++) {
        cumulative += series.buckets[i]!;
        const le = i < DURATION_BOUNDS_SECONDS.length ? String(DURATION_BOUNDS_SECONDS[i]) : '+Inf';
        lines.push(`${name}_bucket{${labels},le="${le}"} ${cumulative}`);
      }
      lines.push(`${name}_sum{${labels}} ${series.sumSeconds}`, `${name}_count{${labels}} ${series.count}`);
    }
  }
}

/** A Prometheus label value in text exposition: backslash, quote and newline escaped. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function splitNs(ns: bigint): { hi: number; lo: number } {
  return { hi: Number(ns >> 32n), lo: Number(ns & 0xffffffffn) };
}

const decoder = new TextDecoder();
const scratch = { bytes: new Uint8Array(0), start: 0, end: 0 };

function text(vector: Vector, row: number): string {
  if (vector.storage === 'bigint') return String(vector.values[row]);
  if (!stringSpan(vector, row, scratch)) return '';
  return decoder.decode(scratch.bytes.subarray(scratch.start, scratch.end));
}

/** The path part of a request target: route stand-in (templates are unknown to a capture). */
function routeOf(target: string): string {
  const q = target.indexOf('?');
  return q < 0 ? target : target.slice(0, q);
}

/**
 * Observes http_events rows into the server or client histogram (by
 * trace_role). Returns rows observed (kept or overflowed).
 */
export function observeHttp(batch: RecordBatch, rows: RowRange, server: HistogramSet, client: HistogramSet): number {
  const time = column(batch, 'time_');
  const latency = column(batch, 'latency');
  const role = column(batch, 'trace_role');
  const method = column(batch, 'req_method');
  const status = column(batch, 'resp_status');
  const path = column(batch, 'req_path');
  const remoteAddr = column(batch, 'remote_addr');
  const remotePort = column(batch, 'remote_port');
  if (!time || !latency || !role || !method || !status || !path || !remoteAddr || !remotePort) return 0;
  const lat = int64Words(latency);
  const r = int64Words(role);
  let observed = 0;
  for (let row = rows.from; row < rows.to; row++) {
    observed++;
    const seconds = Math.max(0, wordsToNumber(lat, row)) / 1e9;
    const m = text(method, row);
    const s = text(status, row);
    if (r[row * 2] === 2) {
      const route = routeOf(text(path, row));
      server.observe(`${m}\u0000${s}\u0000${route}`, () => [m, s, route], seconds);
    } else {
      const a = text(remoteAddr, row);
      const p = text(remotePort, row);
      client.observe(`${m}\u0000${s}\u0000${a}\u0000${p}`, () => [m, s, a, p], seconds);
    }
  }
  return observed;
}

/**
 * Observes the client side (trace_role 1) of db request rows (pgsql/mysql/
 * redis tables) into db.client.operation.duration: when both ends of a
 * connection are traced each operation is counted once. Returns rows read.
 */
export function observeDb(batch: RecordBatch, rows: RowRange, system: string, operationColumn: string, histogram: HistogramSet): number {
  const latency = column(batch, 'latency');
  const role = column(batch, 'trace_role');
  const operation = column(batch, operationColumn);
  if (!latency || !role) return 0;
  const lat = int64Words(latency);
  const r = int64Words(role);
  for (let row = rows.from; row < rows.to; row++) {
    if (r[row * 2] !== 1) continue;
    const op = operation ? text(operation, row) : '';
    histogram.observe(`${system}\u0000${op}`, () => [system, op], Math.max(0, wordsToNumber(lat, row)) / 1e9);
  }
  return rows.to - rows.from;
}
