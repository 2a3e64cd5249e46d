import type { RollupStats } from './retention/rollup.ts';
import type { TableStore } from './store/table-store.ts';

export interface MetricsSources {
  store: TableStore;
  /** Running rollups (src/agent/retention/). */
  rollups?: readonly RollupStats[];
  /** Connection tracker / parser counters; a dotted name `family.reason` becomes a reason label. */
  tracker: Record<string, number>;
  /** Kernel-side counters from the socket tracer. */
  kernel: Record<string, number>;
  /** Agent-level counters (CPU throttling, …). */
  agent: Record<string, number>;
}

/**
 * The agent's self-metrics in Prometheus text format (0.0.4). Every drop has
 * a reason label, so events seen = stored + expired + dropped can be checked
 * from the outside.
 */
export function renderMetrics(sources: MetricsSources): string {
  const lines: string[] = [];
  const family = (name: string, type: 'counter' | 'gauge', help: string): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  const stats = sources.store.stats();
  const perTable = (name: string, type: 'counter' | 'gauge', help: string, pick: (t: (typeof stats)[number]) => number): void => {
    family(name, type, help);
    for (const t of stats) lines.push(`${name}{table="${t.name}"} ${pick(t)}`);
  };
  perTable('wisp_table_rows', 'gauge', 'Rows held per table.', (t) => t.rows);
  perTable('wisp_table_bytes', 'gauge', 'Bytes held per table.', (t) => t.bytes);
  perTable('wisp_table_rows_added_total', 'counter', 'Rows written per table.', (t) => t.rowsAdded);
  perTable('wisp_table_max_bytes', 'gauge', 'Byte budget per table.', (t) => t.maxBytes);
  perTable('wisp_table_max_age_seconds', 'gauge', 'Age budget per table (0: none).', (t) => Number(t.maxAgeNs) / 1e9);
  family('wisp_table_rows_expired_total', 'counter', 'Rows removed by retention per table and reason (age, bytes, total, removed).');
  for (const t of stats) for (const [reason, rows] of Object.entries(t.rowsExpiredBy)) lines.push(`wisp_table_rows_expired_total{table="${t.name}",reason="${reason}"} ${rows}`);
  family('wisp_table_rows_dropped_total', 'counter', 'Rows that could not be stored per table and reason.');
  for (const t of stats) for (const [reason, rows] of Object.entries(t.rowsDroppedBy)) lines.push(`wisp_table_rows_dropped_total{table="${t.name}",reason="${reason}"} ${rows}`);
  family('wisp_table_oldest_row_timestamp_seconds', 'gauge', 'Time of the oldest row held per table.');
  for (const t of stats) if (t.oldestTimeNs !== null) lines.push(`wisp_table_oldest_row_timestamp_seconds{table="${t.name}"} ${Number(t.oldestTimeNs) / 1e9}`);

  renderRollups(lines, sources.rollups ?? []);
  renderCounters(lines, 'wisp_tracker', sources.tracker);
  renderCounters(lines, 'wisp_kernel', sources.kernel);
  renderCounters(lines, 'wisp_agent', sources.agent);
  return `${lines.join('\n')}\n`;
}

/** Per rollup: rows seen = aggregated + dropped{reason}; overflowed rows are aggregated into the overflow group. */
function renderRollups(lines: string[], rollups: readonly RollupStats[]): void {
  if (rollups.length === 0) return;
  const each = (name: string, type: 'counter' | 'gauge', help: string, pick: (r: RollupStats) => number): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const r of rollups) lines.push(`${name}{rollup="${r.name}",from="${r.from}"} ${pick(r)}`);
  };
  each('wisp_rollup_rows_seen_total', 'counter', 'Source rows a rollup received.', (r) => r.rowsSeen);
  each('wisp_rollup_rows_aggregated_total', 'counter', 'Source rows aggregated into a rollup interval.', (r) => r.rowsAggregated);
  lines.push('# HELP wisp_rollup_rows_dropped_total Source rows not aggregated, by reason (late, interval_limit, error).', '# TYPE wisp_rollup_rows_dropped_total counter');
  for (const r of rollups) for (const [reason, rows] of Object.entries(r.rowsDropped)) lines.push(`wisp_rollup_rows_dropped_total{rollup="${r.name}",reason="${reason}"} ${rows}`);
  each('wisp_rollup_rows_overflowed_total', 'counter', 'Rows aggregated into an interval\'s overflow group (group limit reached).', (r) => r.rowsOverflowed);
  each('wisp_rollup_intervals_written_total', 'counter', 'Closed intervals written to the rollup table.', (r) => r.intervalsWritten);
  each('wisp_rollup_open_groups', 'gauge', 'Groups held in open intervals.', (r) => r.openGroups);
}

function renderCounters(lines: string[], prefix: string, counters: Record<string, number>): void {
  const families = new Map<string, [string | undefined, number][]>();
  for (const [key, value] of Object.entries(counters)) {
    const dot = key.indexOf('.');
    const name = `${prefix}_${sanitize(dot < 0 ? key : key.slice(0, dot))}_total`;
    const reason = dot < 0 ? undefined : key.slice(dot + 1);
    if (!families.has(name)) families.set(name, []);
    families.get(name)!.push([reason, value]);
  }
  for (const [name, samples] of families) {
    lines.push(`# TYPE ${name} counter`);
    for (const [reason, value] of samples) {
      lines.push(reason === undefined ? `${name} ${value}` : `${name}{reason="${reason.replace(/["\\\n]/g, '_')}"} ${value}`);
    }
  }
}

function sanitize(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_').replace(/_total$/, '');
}
