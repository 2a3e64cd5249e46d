import { PLAN_KEY, PLAN_VERSION_ANNOTATION, type AgentPlan as PlanDocument, type PlanExport, type PlanRollup } from '../../common/agent-plan.ts';
import type { TableBudget } from '../retention/retention.manager.ts';

/**
 * The part of the agent plan (src/common/agent-plan.ts: ConfigMap
 * wisp-agent-plan, key plan.json) that agents apply (Agent.applyPlan). Unknown fields are ignored, so an older
 * agent keeps working with a newer operator.
 */
export type AgentPlanTable = TableBudget;

export interface AgentPlan {
  readonly version: string;
  readonly tables: readonly AgentPlanTable[];
  readonly rollups: readonly PlanRollup[];
  /** Passed to the agent's exporters as the operator compiled them. */
  readonly exports: readonly PlanExport[];
  /** The Collector's scoping (sources, namespaces, maxBodyBytes, dataAccess); absent in plans without one. */
  readonly collector?: Partial<PlanDocument['collector']>;
}


/** Reads plan.json; the version comes from the annotation when the document has none. */
export function parsePlan(text: string, annotatedVersion: string | undefined): AgentPlan {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (cause) {
    throw new Error(`parse ${PLAN_KEY}: not JSON`, { cause });
  }
  if (typeof document !== 'object' || document === null) throw new Error(`parse ${PLAN_KEY}: want an object`);
  const plan = document as { version?: unknown; tables?: unknown; retention?: { tables?: unknown }; rollups?: unknown; exports?: unknown; collector?: unknown };
  const version = typeof plan.version === 'string' ? plan.version : annotatedVersion;
  if (!version) throw new Error(`parse ${PLAN_KEY}: no version (field "version" or annotation ${PLAN_VERSION_ANNOTATION})`);
  const rawTables = plan.tables ?? plan.retention?.tables ?? [];
  if (!Array.isArray(rawTables)) throw new Error(`parse ${PLAN_KEY}: "tables" must be a list`);
  const tables = rawTables.map((t: unknown, i): AgentPlanTable => {
    const table = t as { name?: unknown; maxBytes?: unknown; maxAge?: unknown; maxAgeMs?: unknown };
    if (typeof table?.name !== 'string') throw new Error(`parse ${PLAN_KEY}: tables[${i}].name must be a string`);
    return {
      name: table.name,
      ...(typeof table.maxBytes === 'string' || typeof table.maxBytes === 'number' ? { maxBytes: table.maxBytes } : {}),
      ...(typeof table.maxAge === 'string' ? { maxAge: table.maxAge } : {}),
      ...(typeof table.maxAgeMs === 'number' ? { maxAgeMs: table.maxAgeMs } : {}),
    };
  });
  const rawRollups = plan.rollups ?? [];
  if (!Array.isArray(rawRollups)) throw new Error(`parse ${PLAN_KEY}: "rollups" must be a list`);
  const rollups = rawRollups.map((r: unknown, i) => parseRollup(r, i));
  const exports = plan.exports ?? [];
  if (!Array.isArray(exports)) throw new Error(`parse ${PLAN_KEY}: "exports" must be a list`);
  const collector = plan.collector === undefined ? undefined : parseCollector(plan.collector);
  return { version, tables, rollups, exports: exports as PlanExport[], ...(collector && { collector }) };
}

/** The scoping fields of the collector section, type-checked; values are judged by the agent (scopeFromCollector). */
function parseCollector(value: unknown): Partial<PlanDocument['collector']> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`parse ${PLAN_KEY}: "collector" must be an object`);
  const c = value as Record<string, unknown>;
  const strings = (v: unknown, field: string): string[] => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error(`parse ${PLAN_KEY}: collector.${field} must be a list of strings`);
    return v as string[];
  };
  const out: Partial<PlanDocument['collector']> = {};
  if (c.sources !== undefined) out.sources = strings(c.sources, 'sources');
  if (c.namespaces !== undefined) {
    const ns = (c.namespaces ?? {}) as { include?: unknown; exclude?: unknown };
    out.namespaces = { include: strings(ns.include ?? [], 'namespaces.include'), exclude: strings(ns.exclude ?? [], 'namespaces.exclude') };
  }
  if (c.maxBodyBytes !== undefined) {
    if (typeof c.maxBodyBytes !== 'number') throw new Error(`parse ${PLAN_KEY}: collector.maxBodyBytes must be a number`);
    out.maxBodyBytes = c.maxBodyBytes;
  }
  if (c.dataAccess !== undefined) {
    if (typeof c.dataAccess !== 'string') throw new Error(`parse ${PLAN_KEY}: collector.dataAccess must be a string`);
    out.dataAccess = c.dataAccess;
  }
  return out;
}

function parseRollup(value: unknown, i: number): PlanRollup {
  const r = (value ?? {}) as Partial<Record<keyof PlanRollup, unknown>>;
  const field = (name: string, want: string) => new Error(`parse ${PLAN_KEY}: rollups[${i}].${name} must be ${want}`);
  if (typeof r.name !== 'string') throw field('name', 'a string');
  if (typeof r.from !== 'string') throw field('from', 'a string');
  if (typeof r.intervalMs !== 'number' || !(r.intervalMs > 0)) throw field('intervalMs', 'a positive number');
  if (typeof r.retainMs !== 'number' || !(r.retainMs > 0)) throw field('retainMs', 'a positive number');
  if (!Array.isArray(r.groupBy) || !r.groupBy.every((g) => typeof g === 'string')) throw field('groupBy', 'a list of strings');
  const aggregates = r.aggregates as Record<string, unknown> | undefined;
  if (typeof aggregates !== 'object' || aggregates === null || !Object.values(aggregates).every((a) => typeof a === 'string')) {
    throw field('aggregates', 'a map of strings');
  }
  if (r.maxBytes !== undefined && typeof r.maxBytes !== 'number') throw field('maxBytes', 'a number');
  return {
    name: r.name, from: r.from, intervalMs: r.intervalMs, retainMs: r.retainMs, groupBy: r.groupBy as string[],
    aggregates: aggregates as Record<string, string>, ...(r.maxBytes !== undefined && { maxBytes: r.maxBytes }),
    owner: typeof r.owner === 'string' ? r.owner : '',
  };
}

export interface AppliedPlan {
  readonly version: string;
  /** Things the plan asked for that this agent could not do, one line each. */
  readonly problems: readonly string[];
}
