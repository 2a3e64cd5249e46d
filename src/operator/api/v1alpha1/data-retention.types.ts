// DataRetention (cluster-scoped): per-table budgets and rollups. Agents apply
// budgets as soon as the plan carries them; retention drops whole, oldest
// batches. Two DataRetentions budgeting the same table conflict: the operator
// keeps the older one's value and marks the newer Ready=False.
import { IDENTIFIER_PATTERN, s, type Infer } from '../schema.builder.ts';
import {
  conditions, GROUP, observedGeneration, VERSION,
  type KindNames, type Problem, type Resource,
} from './common.types.ts';
import { validateDuration, validateQuantity } from './validation.ts';

export const DATA_RETENTION: KindNames = Object.freeze({
  group: GROUP, version: VERSION, kind: 'DataRetention', plural: 'dataretentions', singular: 'dataretention',
  shortNames: Object.freeze(['wdr']), scope: 'Cluster',
});

export const DataRetentionConditions = Object.freeze({
  Ready: 'Ready',
  /** Another DataRetention already budgets one of this one's tables or rollups. */
  Conflicting: 'Conflicting',
} as const);

/** Aggregate functions a rollup column can use. */
export const ROLLUP_AGGREGATES = Object.freeze(['count', 'sum', 'mean', 'min', 'max', 'quantiles', 'errorRate'] as const);

const tableName = (description: string) => s.string({ description, pattern: IDENTIFIER_PATTERN, minLength: 1, maxLength: 63 });

export const tableBudget = s.object({
  name: tableName('Table the budget applies to (http_events, a Tracepoint table, ...).').required(),
  maxBytes: s.quantity({ description: 'Most bytes the table may hold on each node (e.g. 256Mi); oldest batches are dropped first.' }),
  maxAge: s.duration({ description: 'Rows older than this are dropped (e.g. 30m).' }),
}, { description: 'Budget of one table on each node.' }).validate({
  rule: 'has(self.maxBytes) || has(self.maxAge)',
  message: 'set maxBytes, maxAge or both',
});
export type TableBudget = Infer<typeof tableBudget>;

export const rollup = s.object({
  name: tableName('Name of the rollup table the agents write.').required(),
  from: tableName('Table the rollup reads: a built-in table, a Tracepoint table or another rollup.').required(),
  interval: s.duration({ description: 'Width of each rollup bucket (e.g. 1m).' }).required(),
  groupBy: s.array(s.string({ description: 'A column of the source table, or a Kubernetes context column (service, pod, namespace, node).', pattern: IDENTIFIER_PATTERN, maxLength: 63 }), {
    description: 'Columns each bucket is grouped by.', maxItems: 16, listType: 'set',
  }),
  aggregates: s.map(s.enum(ROLLUP_AGGREGATES, {
    description: `Aggregate: ${ROLLUP_AGGREGATES.join(', ')}. count counts rows; errorRate is the share of rows with resp_status ≥ 400; the others read the column named by the key.`,
  }), {
    description: 'Output columns: key is the column name (and the input column for sum, mean, min, max, quantiles), value the aggregate.',
    minProperties: 1, maxProperties: 32,
  }).required(),
  retain: s.duration({ description: 'How long rollup rows are kept (e.g. 7d).' }).required(),
  maxBytes: s.quantity({ description: 'Most bytes the rollup table may hold on each node. Absent: 1/16 of the table store.' }),
}, { description: 'A summarized table kept longer than its source.' }).validate({
  rule: 'self.name != self.from',
  message: 'a rollup cannot read its own table',
  fieldPath: '.from',
});
export type Rollup = Infer<typeof rollup>;

export const dataRetentionSpec = s.object({
  tables: s.array(tableBudget, { description: 'Per-table budgets.', maxItems: 64, listType: 'map', mapKeys: ['name'] }),
  rollups: s.array(rollup, { description: 'Rollups.', maxItems: 32, listType: 'map', mapKeys: ['name'] }),
}, { description: 'Per-table budgets and rollups.' }).validate({
  rule: '!has(self.tables) || !has(self.rollups) || !self.rollups.exists(r, self.tables.exists(t, t.name == r.name))',
  message: 'a rollup\'s budget is its retain and maxBytes: do not list a rollup under tables',
  fieldPath: '.rollups',
}, {
  rule: 'has(self.tables) || has(self.rollups)',
  message: 'set tables, rollups or both',
});
export type DataRetentionSpec = Infer<typeof dataRetentionSpec>;

export const retentionConflict = s.object({
  table: s.string({ description: 'Table budgeted twice.', maxLength: 63 }).required(),
  dataRetention: s.string({ description: 'The other DataRetention that budgets it and wins (the older one).', maxLength: 253 }).required(),
}, { description: 'A table this DataRetention and another both budget.' });
export type RetentionConflict = Infer<typeof retentionConflict>;

export const dataRetentionStatus = s.object({
  observedGeneration,
  conditions,
  appliedTables: s.array(s.string({ description: 'A table name.', maxLength: 63 }), {
    description: 'Tables and rollups whose budgets are in the current agent plan.', maxItems: 96, listType: 'set',
  }),
  appliedNodes: s.integer({ description: 'Agents that report having applied the current plan.', minimum: 0, format: 'int32' }),
  conflicts: s.array(retentionConflict, {
    description: 'Tables another DataRetention already budgets; this one\'s values for them are ignored.',
    maxItems: 96, listType: 'map', mapKeys: ['table'],
  }),
}, { description: 'What was applied.' });
export type DataRetentionStatus = Infer<typeof dataRetentionStatus>;

export type DataRetention = Resource<'DataRetention', DataRetentionSpec, DataRetentionStatus>;

export const dataRetentionSchema = Object.freeze({ names: DATA_RETENTION, spec: dataRetentionSpec, status: dataRetentionStatus });

export interface DataRetentionContext {
  /** Every table a rollup may read: built-in, Tracepoint and rollup tables. */
  readonly knownTables: ReadonlySet<string>;
}

/**
 * Problems only the operator can judge: a rollup reading a table no agent
 * produces, a retain shorter than the interval. Pure.
 */
export function validateDataRetention(retention: Pick<DataRetention, 'spec'>, context: DataRetentionContext): Problem[] {
  const problems: Problem[] = [];
  const spec = retention.spec;
  const rollupNames = new Set((spec.rollups ?? []).map((r) => r.name));
  (spec.tables ?? []).forEach((table, i) => {
    if (table.maxBytes !== undefined) validateQuantity(table.maxBytes, `spec.tables[${i}].maxBytes`, problems);
    if (table.maxAge !== undefined) validateDuration(table.maxAge, `spec.tables[${i}].maxAge`, problems);
  });
  (spec.rollups ?? []).forEach((r, i) => {
    const field = `spec.rollups[${i}]`;
    if (!context.knownTables.has(r.from) && !rollupNames.has(r.from)) {
      problems.push({
        field: `${field}.from`, reason: 'UnknownTable',
        message: `rollup ${r.name} reads table ${r.from}, which no agent produces; name a built-in, Tracepoint or rollup table`,
      });
    }
    const intervalMs = validateDuration(r.interval, `${field}.interval`, problems);
    const retainMs = validateDuration(r.retain, `${field}.retain`, problems);
    if (intervalMs !== undefined && intervalMs < 1000) {
      problems.push({ field: `${field}.interval`, reason: 'IntervalTooShort', message: `rollup ${r.name} interval ${r.interval} is below 1s; use 1s or more` });
    }
    if (intervalMs !== undefined && retainMs !== undefined && retainMs < intervalMs) {
      problems.push({ field: `${field}.retain`, reason: 'RetainShorterThanInterval', message: `rollup ${r.name} keeps ${r.retain}, less than one ${r.interval} bucket; raise retain` });
    }
  });
  return problems;
}

/** A DataRetention as findRetentionConflicts needs it. */
export interface RetentionClaim {
  readonly name: string;
  /** metadata.creationTimestamp; the older claim wins, then the smaller name. */
  readonly createdAt: string | Date | undefined;
  readonly spec: DataRetentionSpec;
}

/**
 * For every DataRetention that loses a table to another, the conflicts to
 * report. A table (or rollup name) may be budgeted by one DataRetention only;
 * the oldest wins, ties broken by name, so the result does not depend on the
 * order of `claims`. Pure.
 */
export function findRetentionConflicts(claims: readonly RetentionClaim[]): Map<string, RetentionConflict[]> {
  const time = (c: RetentionClaim): number => (c.createdAt === undefined ? Number.POSITIVE_INFINITY : new Date(c.createdAt).getTime());
  const ordered = [...claims].sort((a, b) => time(a) - time(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const owner = new Map<string, string>();
  const conflicts = new Map<string, RetentionConflict[]>();
  for (const claim of ordered) {
    const names = [...(claim.spec.tables ?? []).map((t) => t.name), ...(claim.spec.rollups ?? []).map((r) => r.name)];
    for (const table of new Set(names)) {
      const winner = owner.get(table);
      if (winner === undefined) {
        owner.set(table, claim.name);
      } else if (winner !== claim.name) {
        const list = conflicts.get(claim.name) ?? [];
        list.push({ table, dataRetention: winner });
        conflicts.set(claim.name, list);
      }
    }
  }
  return conflicts;
}
