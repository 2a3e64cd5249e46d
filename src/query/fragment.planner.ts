// Prepares a displayed plan for distributed execution: prunes the columns no
// operator needs, then splits it into the fragment each agent runs next to
// its data and the fragment the caller runs over the agents' results.
//
// Split rule: row-wise operators (filter, map) and the first limit run on
// the agents; everything after the first limit runs at the caller, which
// applies that limit again over the union (per-agent first-n rows, then the
// first n of their union). Later: partial aggregates split the same way.
import type { CompiledOutput, MapAssignment, PlanColumn, PlanNode, SinkNode } from './plan.ts';
import { referencedColumns } from './plan.ts';

type Operator = Exclude<PlanNode, { op: 'memorySource' | 'remoteSource' | 'sink' }>;

/** The plan as source + operators, source first. */
function linearize(sink: SinkNode): { source: PlanNode; operators: Operator[] } {
  const operators: Operator[] = [];
  let node: PlanNode = sink.input;
  while (node.op !== 'memorySource' && node.op !== 'remoteSource') {
    if (node.op === 'sink') throw new Error('plan output: a sink inside a plan');
    operators.unshift(node);
    node = node.input;
  }
  return { source: node, operators };
}

/** Re-links operators over a new input, recomputing pass-through schemas. */
function relink(input: PlanNode, operators: readonly Operator[]): PlanNode {
  let node = input;
  for (const operator of operators) {
    switch (operator.op) {
      case 'filter': {
        const kept = new Set(operator.columns.map((c) => c.name));
        node = { ...operator, input: node, columns: node.columns.filter((c) => kept.has(c.name)) };
        break;
      }
      case 'limit': node = { ...operator, input: node, columns: node.columns }; break;
      case 'map': node = { ...operator, input: node }; break;
    }
  }
  return node;
}

/**
 * Drops unused map assignments and source columns. Walks from the sink down,
 * tracking which columns the operators above still read.
 */
function pruneColumns(source: PlanNode, operators: readonly Operator[], output: readonly PlanColumn[]): { source: PlanNode; operators: Operator[] } {
  let required = new Set(output.map((c) => c.name));
  const pruned: Operator[] = [];
  for (let i = operators.length - 1; i >= 0; i--) {
    const operator = operators[i] as Operator;
    if (operator.op === 'map') {
      const assignments: MapAssignment[] = operator.assignments.filter((a) => required.has(a.name));
      const columns = operator.columns.filter((c) => required.has(c.name));
      required = new Set();
      for (const a of assignments) referencedColumns(a.expr, required);
      pruned.unshift({ ...operator, assignments, columns });
    } else if (operator.op === 'filter') {
      // The filter outputs what is read above it; it reads its predicate's columns too.
      const columns = operator.columns.filter((c) => required.has(c.name));
      referencedColumns(operator.predicate, required);
      pruned.unshift({ ...operator, columns });
    } else {
      pruned.unshift(operator);
    }
  }
  if (source.op === 'memorySource') {
    let columns = source.columns.filter((c) => required.has(c.name));
    // Keep one column so row counts survive (a map of constants only).
    if (columns.length === 0) columns = source.columns.slice(0, 1);
    source = { ...source, columns };
  }
  return { source, operators: pruned };
}

/** Prunes and splits one output's plan. */
export function planOutput(sink: SinkNode): CompiledOutput {
  const linear = linearize(sink);
  const { source, operators } = pruneColumns(linear.source, linear.operators, sink.columns);
  const plan: SinkNode = { ...sink, input: relink(source, operators) };
  const firstLimit = operators.findIndex((o) => o.op === 'limit');
  const local = firstLimit < 0 ? operators : operators.slice(0, firstLimit + 1);
  const rest = firstLimit < 0 ? [] : operators.slice(firstLimit);
  const nodeFragment = relink(source, local);
  const mergeInput = relink({ op: 'remoteSource', columns: nodeFragment.columns }, rest);
  return {
    name: sink.name,
    columns: sink.columns,
    plan,
    nodeFragment,
    mergeFragment: { op: 'sink', input: mergeInput, name: sink.name, columns: mergeInput.columns },
  };
}

