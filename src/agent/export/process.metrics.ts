// process-metrics: the newest process_stats sample of each process as OTel
// process metrics (semantic conventions): process.cpu.time (cumulative sum,
// by cpu.mode), process.memory.usage, process.memory.virtual,
// process.thread.count (gauges). One resource per process, as OTel models
// processes. Processes are bounded; samples past the bound are counted.
import type { RecordBatch } from 'apache-arrow';
import { column, F, int64Words, stringSpan, Temporality, wordsToNumber, type EncodedChunk } from './otlp.encoding.ts';
import { ProtoWriter } from './protobuf.writer.ts';
import { splitNs } from './red.metrics.ts';
import type { ResourceResolver, RowRange } from './span.encoder.ts';
import { parseUpid } from '../upid.ts';

interface Sample {
  timeNs: bigint;
  userNs: number;
  systemNs: number;
  rssBytes: number;
  vsizeBytes: number;
  threads: number;
  /** Changed since the last OTLP snapshot. */
  fresh: boolean;
}

const decoder = new TextDecoder();
const scratch = { bytes: new Uint8Array(0), start: 0, end: 0 };

export class ProcessMetrics {
  private readonly samples = new Map<string, Sample>();
  private readonly maxProcesses: number;
  overflowed = 0;

  constructor(maxProcesses: number) {
    this.maxProcesses = maxProcesses;
  }

  /** Keeps the newest sample per upid; returns rows observed. */
  observe(batch: RecordBatch, rows: RowRange): number {
    const cols = ['time_', 'upid', 'cpu_utime_ns', 'cpu_ktime_ns', 'rss_bytes', 'vsize_bytes', 'num_threads'].map((n) => column(batch, n));
    if (cols.some((c) => !c)) return 0;
    const [time, upid, user, system, rss, vsize, threads] = cols as NonNullable<(typeof cols)[number]>[];
    const times = (time as { values: BigInt64Array }).values;
    const [u, s, r, v, t] = [user, system, rss, vsize, threads].map((c) => int64Words(c!));
    let observed = 0;
    for (let row = rows.from; row < rows.to; row++) {
      observed++;
      stringSpan(upid!, row, scratch);
      const key = decoder.decode(scratch.bytes.subarray(scratch.start, scratch.end));
      let sample = this.samples.get(key);
      if (!sample) {
        if (this.samples.size >= this.maxProcesses) { this.overflowed++; continue; }
        sample = { timeNs: 0n, userNs: 0, systemNs: 0, rssBytes: 0, vsizeBytes: 0, threads: 0, fresh: false };
        this.samples.set(key, sample);
      }
      if (times[row]! < sample.timeNs) continue;
      sample.timeNs = times[row]!;
      sample.userNs = wordsToNumber(u!, row);
      sample.systemNs = wordsToNumber(s!, row);
      sample.rssBytes = wordsToNumber(r!, row);
      sample.vsizeBytes = wordsToNumber(v!, row);
      sample.threads = wordsToNumber(t!, row);
      sample.fresh = true;
    }
    return observed;
  }

  /** One chunk per process with a new sample since the last call (items = data points). */
  encode(resources: ResourceResolver, startNs: bigint): EncodedChunk[] {
    const chunks: EncodedChunk[] = [];
    const start = splitNs(startNs);
    for (const [upid, sample] of this.samples) {
      if (!sample.fresh) continue;
      sample.fresh = false;
      const w = new ProtoWriter(512);
      const now = splitNs(sample.timeNs);
      const point = (value: number, attribute?: [string, string]): void => {
        w.begin(F.dataPoints);
        if (attribute) {
          w.begin(F.nAttributes); w.string(F.key, attribute[0]); w.begin(F.value); w.string(F.stringValue, attribute[1]); w.end(); w.end();
        }
        w.fixed64Parts(F.nStartTime, start.hi, start.lo);
        w.fixed64Parts(F.nTime, now.hi, now.lo);
        w.double(F.nAsDouble, value);
        w.end();
      };
      const metric = (name: string, unit: string, kind: 'sum' | 'gauge', points: () => void): void => {
        w.begin(F.metrics);
        w.string(F.metricName, name);
        w.string(F.metricUnit, unit);
        w.begin(kind === 'sum' ? F.sum : F.gauge);
        points();
        if (kind === 'sum') { w.uint32(F.temporality, Temporality.CUMULATIVE); w.uint32(F.isMonotonic, 1); }
        w.end();
        w.end();
      };
      metric('process.cpu.time', 's', 'sum', () => { point(sample.userNs / 1e9, ['cpu.mode', 'user']); point(sample.systemNs / 1e9, ['cpu.mode', 'system']); });
      metric('process.memory.usage', 'By', 'gauge', () => point(sample.rssBytes));
      metric('process.memory.virtual', 'By', 'gauge', () => point(sample.vsizeBytes));
      metric('process.thread.count', '{thread}', 'gauge', () => point(sample.threads));
      chunks.push({ resource: resources.resource(upid), payload: w.finish(), items: 5 });
    }
    return chunks;
  }

  /** Forgets processes without a sample since `cutoffNs` (exited ones). */
  evictOlderThan(cutoffNs: bigint): void {
    for (const [upid, sample] of this.samples) if (sample.timeNs < cutoffNs) this.samples.delete(upid);
  }

  /** Prometheus exposition, one series per process (labels: upid and its pid). */
  renderPrometheus(lines: string[]): void {
    if (this.samples.size === 0) return;
    const families: Array<[string, string, string, (s: Sample) => Array<[string, number]>]> = [
      ['process_cpu_time_seconds_total', 'counter', 'CPU time of the process (process.cpu.time).', (s) => [['cpu_mode="user"', s.userNs / 1e9], ['cpu_mode="system"', s.systemNs / 1e9]]],
      ['process_memory_usage_bytes', 'gauge', 'Resident memory of the process (process.memory.usage).', (s) => [['', s.rssBytes]]],
      ['process_memory_virtual_bytes', 'gauge', 'Virtual memory of the process (process.memory.virtual).', (s) => [['', s.vsizeBytes]]],
      ['process_thread_count', 'gauge', 'Threads of the process (process.thread.count).', (s) => [['', s.threads]]],
    ];
    for (const [name, type, help, values] of families) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [upid, sample] of this.samples) {
        const base = `upid="${upid}",process_pid="${parseUpid(upid)?.pid ?? 0}"`;
        for (const [extra, value] of values(sample)) lines.push(`${name}{${base}${extra ? `,${extra}` : ''}} ${value}`);
      }
    }
  }
}
