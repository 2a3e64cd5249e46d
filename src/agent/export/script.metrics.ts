// A PxL script source with a prometheus destination: each run's output rows
// become gauges on the agent's /metrics (docs/adr/0012-export-delivery.md,
// "Script sources to Prometheus"). The mapping, per px.display output:
//   - int64 and float64 columns are values: one gauge family per column,
//     named `<metricPrefix>_<column>`;
//   - string, uint128 (upid) and boolean columns are labels, named as the
//     columns, on every series of the output;
//   - time64ns columns (time_) are ignored: Prometheus stamps the scrape.
// Each successful run replaces the served series with its rows (a series the
// latest run did not produce is no longer served, so Prometheus marks it
// stale). Two rows of one output with the same labels: the later one is
// served, the earlier counted as dropped (duplicateSeries). Series are bounded
// per pipeline; rows that would open one past the bound are counted
// (seriesLimit), not kept.
import type { RecordBatch } from 'apache-arrow';
import type { CompiledOutput, QueryOutput } from '../../query/index.ts';
import type { Vector } from '../../query/vector.ts';
import type { ColumnType } from '../../tables/schema.ts';
import { column, stringSpan } from './otlp.encoding.ts';
import { escapeLabel } from './red.metrics.ts';

/** Prometheus' metric name syntax; a prefix must match it (and so then does prefix_column). */
export const METRIC_PREFIX_PATTERN = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Label names, and the column part of a family name (PxL allows df['any text'] = …). */
const NAME_PATTERN = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const VALUE_TYPES: ReadonlySet<ColumnType> = new Set(['int64', 'float64']);
const LABEL_TYPES: ReadonlySet<ColumnType> = new Set(['string', 'uint128', 'boolean']);

interface OutputMapping {
  readonly name: string;
  readonly labels: readonly string[];
  /** Value columns and the family each feeds. */
  readonly values: ReadonlyArray<{ readonly column: string; readonly family: string }>;
}

/** What one run served: per output, the label text of each series and the values, column-major. */
interface OutputSnapshot {
  readonly labels: string[];
  readonly values: number[][];
}

/** The default prefix of a pipeline without destination.prometheus.metricPrefix: wisp_<name>. */
export function defaultMetricPrefix(pipelineKey: string): string {
  const name = pipelineKey.slice(pipelineKey.indexOf('/') + 1);
  return `wisp_${name.replace(/[^a-zA-Z0-9_]/g, '_')}`;
}

/**
 * The gauges a compiled script serves. Throws (one line) when an output has
 * no value column, a label name is reserved, or two outputs would feed the
 * same family: the pipeline reports that as InvalidSource.
 */
export function planScriptMetrics(outputs: readonly CompiledOutput[], prefix: string): OutputMapping[] {
  if (!METRIC_PREFIX_PATTERN.test(prefix)) throw new Error(`metric prefix ${JSON.stringify(prefix)} is not a Prometheus metric name`);
  const families = new Map<string, string>();
  return outputs.map((output) => {
    const labels = output.columns.filter((c) => LABEL_TYPES.has(c.type)).map((c) => c.name);
    const values = output.columns.filter((c) => VALUE_TYPES.has(c.type)).map((c) => ({ column: c.name, family: `${prefix}_${c.name}` }));
    if (values.length === 0) {
      throw new Error(`output ${output.name} has no numeric (int64 or float64) column to serve as a metric; columns: ${output.columns.map((c) => `${c.name} ${c.type}`).join(', ')}`);
    }
    const unnamable = [...labels, ...values.map((v) => v.column)].find((name) => !NAME_PATTERN.test(name));
    if (unnamable !== undefined) throw new Error(`output ${output.name}: column ${JSON.stringify(unnamable)} cannot name a Prometheus label or metric; rename it`);
    const reserved = labels.find((l) => l.startsWith('__'));
    if (reserved) throw new Error(`output ${output.name}: label ${reserved} starts with __, which Prometheus reserves; rename the column`);
    for (const { family } of values) {
      const other = families.get(family);
      if (other !== undefined) throw new Error(`outputs ${other} and ${output.name} both produce metric ${family}; rename a column`);
      families.set(family, output.name);
    }
    return { name: output.name, labels, values };
  });
}

const decoder = new TextDecoder();
const scratch = { bytes: new Uint8Array(0), start: 0, end: 0 };

function labelValue(vector: Vector, row: number): string {
  if (vector.storage === 'bool') return vector.values[row] ? 'true' : 'false';
  if (!stringSpan(vector, row, scratch)) return '';
  return decoder.decode(scratch.bytes.subarray(scratch.start, scratch.end));
}

function numberValue(vector: Vector, row: number): number {
  if (vector.storage === 'float') return vector.values[row]!;
  if (vector.storage === 'bigint') return Number(vector.values[row]!);
  return Number.NaN;
}

/** HELP text escapes backslash and newline (text exposition format). */
function helpText(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** The served gauges of one pipeline: replaced by each run, rendered on every scrape. */
export class ScriptMetrics {
  readonly outputs: readonly OutputMapping[];
  readonly maxSeries: number;
  private readonly help: string;
  private snapshot: OutputSnapshot[] = [];

  constructor(outputs: readonly OutputMapping[], options: { maxSeries: number; pipeline: string }) {
    this.outputs = outputs;
    this.maxSeries = options.maxSeries;
    this.help = `of the script of ExportPipeline ${helpText(options.pipeline)}`;
  }

  /** Series served now. */
  get seriesCount(): number {
    let n = 0;
    this.snapshot.forEach((s, i) => { n += s.labels.length * this.outputs[i]!.values.length; });
    return n;
  }

  /**
   * Replaces the served series with one run's outputs (matched to the plan
   * by position). Returns rows seen, rows past the series bound and rows
   * replaced by a later row with the same labels.
   */
  update(results: readonly QueryOutput[]): { rows: number; overSeriesLimit: number; duplicates: number } {
    const counts = { rows: 0, overSeriesLimit: 0, duplicates: 0 };
    const next: OutputSnapshot[] = [];
    const run = { series: 0 };
    this.outputs.forEach((mapping, index) => {
      const snapshot: OutputSnapshot = { labels: [], values: mapping.values.map(() => []) };
      next.push(snapshot);
      const slots = new Map<string, number>();
      for (const batch of results[index]?.table.batches ?? []) {
        counts.rows += batch.numRows;
        this.observe(batch, mapping, { snapshot, slots, counts, run });
      }
    });
    this.snapshot = next;
    return counts;
  }

  /** One batch of one output into this run's snapshot; `run.series` counts series over all outputs. */
  private observe(batch: RecordBatch, mapping: OutputMapping, state: {
    snapshot: OutputSnapshot; slots: Map<string, number>; counts: { overSeriesLimit: number; duplicates: number }; run: { series: number };
  }): void {
    const { snapshot, slots, counts, run } = state;
    const labels = mapping.labels.map((name) => column(batch, name));
    const values = mapping.values.map((v) => column(batch, v.column));
    for (let row = 0; row < batch.numRows; row++) {
      let text = '';
      for (let i = 0; i < labels.length; i++) {
        const vector = labels[i];
        text += `${i > 0 ? ',' : ''}${mapping.labels[i]!}="${vector ? escapeLabel(labelValue(vector, row)) : ''}"`;
      }
      let slot = slots.get(text);
      if (slot === undefined) {
        if (run.series + values.length > this.maxSeries) {
          counts.overSeriesLimit++;
          continue;
        }
        slot = snapshot.labels.push(text) - 1;
        slots.set(text, slot);
        run.series += values.length;
      } else {
        counts.duplicates++;
      }
      for (let c = 0; c < values.length; c++) snapshot.values[c]![slot] = values[c] ? numberValue(values[c]!, row) : Number.NaN;
    }
  }

  /**
   * Prometheus text exposition of the served series. A family whose name is
   * in `taken` (served by another pipeline or the agent itself) is skipped, and
   * returned, so one scrape never carries a metric twice; `taken` gains the
   * names rendered here.
   */
  renderPrometheus(lines: string[], taken: Set<string>): string[] {
    const clashes: string[] = [];
    this.outputs.forEach((mapping, index) => {
      const snapshot = this.snapshot[index];
      mapping.values.forEach(({ column: name, family }, c) => {
        if (taken.has(family)) { clashes.push(family); return; }
        taken.add(family);
        lines.push(`# HELP ${family} Column ${name} of output ${helpText(mapping.name)} ${this.help}.`, `# TYPE ${family} gauge`);
        if (!snapshot) return;
        const values = snapshot.values[c]!;
        for (let slot = 0; slot < snapshot.labels.length; slot++) {
          const labels = snapshot.labels[slot]!;
          lines.push(`${family}${labels ? `{${labels}}` : ''} ${formatValue(values[slot]!)}`);
        }
      });
    });
    return clashes;
  }
}
