// The one helper through which every controller sets status conditions
// (Kubernetes API conventions: metav1.Condition).
//
// Contracts:
// - lastTransitionTime changes only when `status` changes; a new reason or
//   message with the same status keeps the old transition time.
// - Conditions are kept in the order they were first set; types are unique.
// - The inputs are never mutated; a new array is returned.

export const ConditionStatus = Object.freeze({ True: 'True', False: 'False', Unknown: 'Unknown' } as const);
export type ConditionStatus = (typeof ConditionStatus)[keyof typeof ConditionStatus];

export interface Condition {
  type: string;
  status: ConditionStatus;
  /** CamelCase, machine-readable. */
  reason: string;
  /** For humans: what is wrong and what to do about it. */
  message: string;
  observedGeneration?: number;
  /** RFC 3339, second precision (what the API server stores). */
  lastTransitionTime: string;
}

export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

export interface ConditionTransition {
  type: string;
  from: ConditionStatus | undefined;
  to: ConditionStatus;
  reason: string;
  message: string;
}

/** RFC 3339 without fractional seconds. */
export function rfc3339(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/**
 * Merges `updates` into `existing`. Returns the new list and the transitions
 * (status changes, including first appearance) for events.
 */
export function setConditions(
  existing: readonly Condition[] | undefined,
  updates: readonly ConditionInput[],
  now: Date = new Date(),
): { conditions: Condition[]; transitions: ConditionTransition[] } {
  const conditions = (existing ?? []).map((c) => ({ ...c }));
  const transitions: ConditionTransition[] = [];
  for (const update of updates) {
    const index = conditions.findIndex((c) => c.type === update.type);
    const previous = index >= 0 ? conditions[index] : undefined;
    const changed = previous?.status !== update.status;
    const next: Condition = {
      type: update.type,
      status: update.status,
      reason: update.reason,
      message: update.message,
      ...(update.observedGeneration !== undefined && { observedGeneration: update.observedGeneration }),
      lastTransitionTime: changed || !previous ? rfc3339(now) : previous.lastTransitionTime,
    };
    if (changed) transitions.push({ type: update.type, from: previous?.status, to: update.status, reason: update.reason, message: update.message });
    if (index >= 0) conditions[index] = next; else conditions.push(next);
  }
  return { conditions, transitions };
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** True when two condition lists say the same thing (times ignored only if equal; key order ignored). */
export function sameConditions(a: readonly Condition[] | undefined, b: readonly Condition[] | undefined): boolean {
  return stableJson(a ?? []) === stableJson(b ?? []);
}

/**
 * JSON with object keys sorted (Dates as ISO strings): objects read back from
 * the API server come with their keys in another order than those built here.
 */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)
    ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : 1)))
    : v));
}
