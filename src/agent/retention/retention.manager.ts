import { canonicalJson, type PlanRollup } from '../../common/agent-plan.ts';
import { mustParseBytes, mustParseDurationNs } from '../../common/units.ts';
import { EMPTY_METADATA_RESOLVER, type MetadataResolver } from '../../query/metadata.ts';
import type { TableOptions, TableStore } from '../store/table-store.ts';
import { compileRollup, Rollup, type RollupOptions, type RollupStats } from './rollup.ts';

export const DEFAULTS = Object.freeze({
  /** A rollup without maxBytes may hold this share of the store's total budget. */
  rollupBudgetDivisor: 16,
});

/** A table budget as plans carry it: compiled (bytes, ms) or hand-written (quantity, duration). */
export interface TableBudget {
  readonly name: string;
  readonly maxBytes?: string | number;
  readonly maxAgeMs?: number;
  readonly maxAge?: string;
}

/** The retention part of an agent plan (src/common/agent-plan.ts). */
export interface RetentionPlan {
  readonly tables: readonly TableBudget[];
  readonly rollups: readonly PlanRollup[];
}

export interface RetentionManagerOptions {
  store: TableStore;
  /** Kubernetes context for rollup keys (service, pod, namespace, node); none resolves to ''. */
  metadata?: MetadataResolver;
  rollup?: Omit<RollupOptions, 'metadata'>;
}

interface RunningRollup {
  readonly rollup: Rollup;
  /** What makes the rollup table's content: a change re-creates the rollup. */
  readonly shape: string;
}

/**
 * Applies DataRetention plans to a running store: per-table budgets and
 * rollups, live. Applying is idempotent and total: tables the plan no
 * longer budgets go back to the store defaults, rollups it no longer lists
 * are removed with their tables, changed rollups are re-created, and a
 * rollup's retain / maxBytes change in place.
 */
export class RetentionManager {
  private readonly store: TableStore;
  private readonly rollupOptions: RollupOptions;
  private readonly budgeted = new Set<string>();
  /** In creation order, so a rollup of a rollup ticks after its source. */
  private readonly rollups = new Map<string, RunningRollup>();

  constructor(options: RetentionManagerOptions) {
    this.store = options.store;
    this.rollupOptions = { ...options.rollup, metadata: options.metadata ?? EMPTY_METADATA_RESOLVER };
  }

  /** Applies `plan`; returns what could not be applied, one line each (the rest is applied). */
  apply(plan: RetentionPlan): string[] {
    const problems: string[] = [];
    const rollupNames = new Set(plan.rollups.map((r) => r.name));
    this.applyRollups(plan.rollups, problems);
    const budgeted = new Set<string>();
    for (const table of plan.tables) {
      if (rollupNames.has(table.name)) {
        problems.push(`table ${table.name} is a rollup: its budget is the rollup's retain and maxBytes`);
        continue;
      }
      if (!this.store.getTable(table.name) || this.rollups.has(table.name)) {
        problems.push(`table ${table.name} is not produced by this agent`);
        continue;
      }
      try {
        this.store.configure(table.name, tableOptions(table));
        budgeted.add(table.name);
      } catch (error) {
        problems.push(`table ${table.name}: ${(error as Error).message}`);
      }
    }
    for (const name of this.budgeted) {
      if (!budgeted.has(name) && this.store.getTable(name)) this.store.configure(name, {});
    }
    this.budgeted.clear();
    for (const name of budgeted) this.budgeted.add(name);
    return problems;
  }

  /** Writes closed rollup intervals. */
  tick(nowNs: bigint): void {
    for (const { rollup } of this.rollups.values()) rollup.tick(nowNs);
  }

  stats(): RollupStats[] {
    return [...this.rollups.values()].map((r) => r.rollup.stats());
  }

  private applyRollups(wanted: readonly PlanRollup[], problems: string[]): void {
    const byName = new Map(wanted.map((r) => [r.name, r]));
    // Remove rollups that are gone or changed, and every rollup reading a removed one.
    const removed = new Set<string>();
    for (const [name, running] of this.rollups) {
      const want = byName.get(name);
      if (!want || shapeOf(want) !== running.shape) removed.add(name);
    }
    for (let grew = true; grew;) {
      grew = false;
      for (const [name, running] of this.rollups) {
        if (!removed.has(name) && removed.has(running.rollup.compiled.plan.from)) { removed.add(name); grew = true; }
      }
    }
    for (const name of [...this.rollups.keys()].reverse()) {
      if (!removed.has(name)) continue;
      this.rollups.get(name)!.rollup.close();
      this.rollups.delete(name);
      this.store.unregister(name);
    }
    // Create the missing ones, sources first; adjust budgets of the kept ones.
    const pending = wanted.filter((r) => {
      if (!this.rollups.has(r.name)) return true;
      this.store.configure(r.name, this.rollupBudget(r));
      return false;
    });
    for (let progressed = true; progressed && pending.length > 0;) {
      progressed = false;
      for (let i = 0; i < pending.length;) {
        const plan = pending[i]!;
        const source = this.store.getTable(plan.from);
        if (!source) { i++; continue; }
        pending.splice(i, 1);
        progressed = true;
        this.create(plan, problems);
      }
    }
    for (const plan of pending) problems.push(`rollup ${plan.name} reads table ${plan.from}, which this agent does not have`);
  }

  private create(plan: PlanRollup, problems: string[]): void {
    if (this.store.getTable(plan.name)) {
      problems.push(`rollup ${plan.name}: a table of that name already exists; rename the rollup`);
      return;
    }
    try {
      const compiled = compileRollup(plan, this.store.getTable(plan.from)!);
      this.store.register(compiled.spec, this.rollupBudget(plan));
      this.rollups.set(plan.name, { rollup: new Rollup(compiled, this.store, this.rollupOptions), shape: shapeOf(plan) });
    } catch (error) {
      problems.push((error as Error).message);
    }
  }

  private rollupBudget(plan: PlanRollup): TableOptions {
    return {
      maxBytes: plan.maxBytes ?? Math.floor(this.store.totalBudget / DEFAULTS.rollupBudgetDivisor),
      maxAgeNs: BigInt(Math.round(plan.retainMs)) * 1_000_000n,
    };
  }
}

function shapeOf(plan: PlanRollup): string {
  return canonicalJson({ from: plan.from, intervalMs: plan.intervalMs, groupBy: plan.groupBy, aggregates: plan.aggregates });
}

function tableOptions(table: TableBudget): TableOptions {
  const maxAgeNs = table.maxAgeMs !== undefined ? BigInt(Math.round(table.maxAgeMs)) * 1_000_000n
    : table.maxAge !== undefined ? mustParseDurationNs(table.maxAge) : undefined;
  return {
    ...(table.maxBytes !== undefined && { maxBytes: mustParseBytes(table.maxBytes) }),
    ...(maxAgeNs !== undefined && { maxAgeNs }),
  };
}
