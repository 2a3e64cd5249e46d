import type { TableStore } from './store/table-store.ts';

export interface MetricsSources {
  store: TableStore;
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
  perTable('wisp_table_rows_expired_total', 'counter', 'Rows removed by retention per table.', (t) => t.rowsExpired);
  perTable('wisp_table_rows_dropped_total', 'counter', 'Rows that could not be stored per table.', (t) => t.rowsDropped);
  family('wisp_table_oldest_row_timestamp_seconds', 'gauge', 'Time of the oldest row held per table.');
  for (const t of stats) if (t.oldestTimeNs !== null) lines.push(`wisp_table_oldest_row_timestamp_seconds{table="${t.name}"} ${Number(t.oldestTimeNs) / 1e9}`);

  renderCounters(lines, 'wisp_tracker', sources.tracker);
  renderCounters(lines, 'wisp_kernel', sources.kernel);
  renderCounters(lines, 'wisp_agent', sources.agent);
  return `${lines.join('\n')}\n`;
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
