// The logical plan: plain data (strings, numbers, booleans, arrays, objects
// only), so a compiled query survives JSON.stringify/JSON.parse unchanged and
// node fragments can be shipped to agents. 64-bit integers (int64 and
// time64ns literals, time bounds) are carried as decimal strings.
import type { ColumnType } from '../tables/schema.ts';

/** A column of an operator's output relation. */
export interface PlanColumn {
  readonly name: string;
  readonly type: ColumnType;
  /** Strings of this column are dictionary-encoded in the output (as the store keeps them). */
  readonly dictionary?: boolean;
}

/** A scalar expression evaluated per row, column-at-a-time. */
export type ScalarExpr = ColumnRef | Literal | FunctionCall;

export interface ColumnRef {
  readonly kind: 'column';
  readonly name: string;
  readonly type: ColumnType;
}

export interface Literal {
  readonly kind: 'literal';
  readonly type: ColumnType;
  /** int64 and time64ns: decimal string; float64: number; boolean: boolean; string/uint128: string. */
  readonly value: string | number | boolean;
}

/** A call of a registered scalar function (operators included: 'equal', 'add', …; see function.registry.ts). */
export interface FunctionCall {
  readonly kind: 'call';
  readonly fn: string;
  readonly args: readonly ScalarExpr[];
  readonly type: ColumnType;
}

export interface MapAssignment {
  readonly name: string;
  readonly expr: ScalarExpr;
}

/** Reads a table's rows with startNs <= time_ < endNs, keeping `columns` (in this order). */
export interface MemorySourceNode {
  readonly op: 'memorySource';
  readonly table: string;
  readonly startNs: string;
  readonly endNs: string;
  readonly columns: readonly PlanColumn[];
}

/** In a merge fragment: the union, in arrival order, of the node fragments' results. */
export interface RemoteSourceNode {
  readonly op: 'remoteSource';
  readonly columns: readonly PlanColumn[];
  /** Which node fragment (index into CompiledOutput.nodeFragments) feeds it; absent means 0. */
  readonly fragment?: number;
}

/**
 * Keeps the rows where `predicate` (boolean) holds, with the input columns
 * listed in `columns` (all of them as compiled; the planner narrows the list
 * to what later operators read, so unread columns are never copied).
 */
export interface FilterNode {
  readonly op: 'filter';
  readonly input: PlanNode;
  readonly predicate: ScalarExpr;
  readonly columns: readonly PlanColumn[];
}

/** Projects: the output is exactly `assignments`, in order (pass-through columns are column refs). */
export interface MapNode {
  readonly op: 'map';
  readonly input: PlanNode;
  readonly assignments: readonly MapAssignment[];
  readonly columns: readonly PlanColumn[];
}

/** Keeps the first `n` rows in input order. */
export interface LimitNode {
  readonly op: 'limit';
  readonly input: PlanNode;
  readonly n: number;
  readonly columns: readonly PlanColumn[];
}

/** Names a result table (px.display). Only at the root of a plan. */
export interface SinkNode {
  readonly op: 'sink';
  readonly input: PlanNode;
  readonly name: string;
  readonly columns: readonly PlanColumn[];
}

/** Aggregate functions of groupby().agg(). */
export type AggregateFn = 'count' | 'sum' | 'mean' | 'min' | 'max' | 'any' | 'quantiles';

export interface AggregateSpec {
  /** The output column. */
  readonly name: string;
  readonly fn: AggregateFn;
  /** The input column it reads. */
  readonly column: string;
  /** The input column's type. */
  readonly inputType: ColumnType;
}

/**
 * Groups rows by `groups` (input columns) and aggregates each group. Mode
 * 'full' aggregates rows; 'partial' (node fragment) outputs mergeable
 * per-group states (see aggregate.executor.ts for their columns); 'final'
 * (merge fragment) combines partial states from many nodes.
 */
export interface AggregateNode {
  readonly op: 'aggregate';
  readonly input: PlanNode;
  readonly mode: 'full' | 'partial' | 'final';
  readonly groups: readonly string[];
  readonly aggregates: readonly AggregateSpec[];
  readonly columns: readonly PlanColumn[];
}

/** Where a join output column comes from. */
export interface JoinOutput {
  readonly side: 'left' | 'right';
  readonly column: string;
}

/**
 * Hash join on equal keys (merge fragment only). Unmatched rows of an outer
 * side get default values (0, '', false) on the other side's columns, as
 * columns are not nullable.
 */
export interface JoinNode {
  readonly op: 'join';
  readonly left: PlanNode;
  readonly right: PlanNode;
  readonly how: 'inner' | 'left' | 'right' | 'outer';
  readonly leftOn: readonly string[];
  readonly rightOn: readonly string[];
  /** One per output column, in `columns` order. */
  readonly outputs: readonly JoinOutput[];
  readonly columns: readonly PlanColumn[];
}

/** The rows of every input in order (df.append); inputs have the same column names and types, matched by name. */
export interface UnionNode {
  readonly op: 'union';
  readonly inputs: readonly PlanNode[];
  readonly columns: readonly PlanColumn[];
}

export type PlanNode = MemorySourceNode | RemoteSourceNode | FilterNode | MapNode | LimitNode | AggregateNode | JoinNode | UnionNode | SinkNode;

/** One px.display: the whole logical plan and its split for distributed execution. */
export interface CompiledOutput {
  readonly name: string;
  readonly columns: readonly PlanColumn[];
  /** The unsplit plan, rooted at a sink (for explain and tests). */
  readonly plan: SinkNode;
  /** Runs on each agent next to the data; its leaf is a memorySource, it has no sink. Same as nodeFragments[0]. */
  readonly nodeFragment: PlanNode;
  /** Every node fragment (one per DataFrame source the output reads); remoteSource.fragment indexes it. */
  readonly nodeFragments: readonly PlanNode[];
  /** Runs at the caller over the node fragments' results; its leaf is a remoteSource, its root a sink. */
  readonly mergeFragment: SinkNode;
}

export interface CompiledQuery {
  /** Bumped when the plan format changes incompatibly (agents refuse what they do not know). */
  readonly planVersion: 1;
  /** In px.display order. Empty when the script displays nothing (as in Pixie). */
  readonly outputs: readonly CompiledOutput[];
  /** `#px:set` pragmas the script sets. */
  readonly settings?: QuerySettings;
}

export interface QuerySettings {
  /** `#px:set max_output_rows_per_table=N`: rows kept per output. */
  readonly maxOutputRowsPerTable?: number;
}

/** The column names an expression reads. */
export function referencedColumns(expr: ScalarExpr, into: Set<string> = new Set()): Set<string> {
  if (expr.kind === 'column') into.add(expr.name);
  else if (expr.kind === 'call') for (const arg of expr.args) referencedColumns(arg, into);
  return into;
}
