import { PLAN_KEY, PLAN_VERSION_ANNOTATION } from '../../common/agent-plan.ts';
import { mustParseBytes, mustParseDurationNs } from '../../common/units.ts';
import type { TableStore } from '../store/table-store.ts';

/**
 * The part of the agent plan (src/common/agent-plan.ts: ConfigMap
 * wisp-agent-plan, key plan.json) that agents apply. Unknown fields are ignored, so an older
 * agent keeps working with a newer operator.
 */
export interface AgentPlanTable {
  readonly name: string;
  readonly maxBytes?: string | number;
  /** As the operator compiles it (src/common/agent-plan.ts PlanTable). */
  readonly maxAgeMs?: number;
  /** As a person writes it in a hand-made plan. */
  readonly maxAge?: string;
}

export interface AgentPlan {
  readonly version: string;
  readonly tables: readonly AgentPlanTable[];
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
  const plan = document as { version?: unknown; tables?: unknown; retention?: { tables?: unknown } };
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
  return { version, tables };
}

export interface AppliedPlan {
  readonly version: string;
  /** Things the plan asked for that this agent could not do, one line each. */
  readonly problems: readonly string[];
}

/**
 * Applies the plan's table budgets to the store at once (retention runs
 * immediately). Budgets for tables this agent does not have are reported,
 * not fatal: a newer operator may know tables an older agent lacks.
 */
export function applyPlan(plan: AgentPlan, store: TableStore): AppliedPlan {
  const problems: string[] = [];
  for (const table of plan.tables) {
    if (!store.getTable(table.name)) {
      problems.push(`table ${table.name} is not produced by this agent`);
      continue;
    }
    try {
      store.configure(table.name, {
        ...(table.maxBytes !== undefined && { maxBytes: mustParseBytes(table.maxBytes) }),
        ...(table.maxAge !== undefined && { maxAgeNs: mustParseDurationNs(table.maxAge) }),
        ...(table.maxAgeMs !== undefined && { maxAgeNs: BigInt(Math.round(table.maxAgeMs)) * 1_000_000n }),
      });
    } catch (error) {
      problems.push(`table ${table.name}: ${(error as Error).message}`);
    }
  }
  return { version: plan.version, problems };
}
