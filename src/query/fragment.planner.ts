// Prepares a displayed plan for distributed execution: prunes the columns no
// operator needs, then splits it into the fragments each agent runs next to
// its data and the fragment the caller runs over the agents' results.
//
// Split rule, from each memorySource up: row-wise operators (filter, map)
// stay on the agents; the first limit runs on the agents and again at the
// caller over the union (per-agent first n, then the first n of their
// union); an aggregate runs as a partial aggregate on the agents and a final
// aggregate at the caller; joins, unions and everything above any of these
// run at the caller. Each agent-side chain becomes one node fragment, read at
// the caller by a remoteSource naming it.
import { partialColumns } from './aggregate.executor.ts';
import type { AggregateNode, CompiledOutput, MapAssignment, PlanColumn, PlanNode, SinkNode } from './plan.ts';
import { referencedColumns } from './plan.ts';

function names(columns: readonly PlanColumn[]): Set<string> {
  return new Set(columns.map((c) => c.name));
}

/** `node` reduced to the columns in `required` (and what it needs itself), schemas recomputed bottom-up. */
function prune(node: PlanNode, required: ReadonlySet<string>): PlanNode {
  switch (node.op) {
    case 'memorySource': {
      let columns = node.columns.filter((c) => required.has(c.name));
      // Keep one column so row counts survive (a map of constants only).
      if (columns.length === 0) columns = node.columns.slice(0, 1);
      return { ...node, columns };
    }
    case 'remoteSource': return node;
    case 'map': {
      let assignments: MapAssignment[] = node.assignments.filter((a) => required.has(a.name));
      if (assignments.length === 0) assignments = node.assignments.slice(0, 1);
      const below = new Set<string>();
      for (const a of assignments) referencedColumns(a.expr, below);
      const kept = new Set(assignments.map((a) => a.name));
      return { ...node, input: prune(node.input, below), assignments, columns: node.columns.filter((c) => kept.has(c.name)) };
    }
    case 'filter': {
      const below = new Set(required);
      referencedColumns(node.predicate, below);
      const input = prune(node.input, below);
      return { ...node, input, columns: input.columns.filter((c) => required.has(c.name)) };
    }
    case 'limit': {
      const input = prune(node.input, required);
      return { ...node, input, columns: input.columns };
    }
    case 'aggregate': {
      const aggregates = node.aggregates.filter((a) => required.has(a.name));
      const below = new Set([...node.groups, ...aggregates.map((a) => a.column)]);
      const kept = new Set([...node.groups, ...aggregates.map((a) => a.name)]);
      return { ...node, input: prune(node.input, below), aggregates, columns: node.columns.filter((c) => kept.has(c.name)) };
    }
    case 'join': {
      const outputs = node.outputs.filter((_o, i) => required.has((node.columns[i] as PlanColumn).name));
      const columns = node.columns.filter((c) => required.has(c.name));
      const leftNeeds = new Set([...node.leftOn, ...outputs.filter((o) => o.side === 'left').map((o) => o.column)]);
      const rightNeeds = new Set([...node.rightOn, ...outputs.filter((o) => o.side === 'right').map((o) => o.column)]);
      return { ...node, left: prune(node.left, leftNeeds), right: prune(node.right, rightNeeds), outputs, columns };
    }
    case 'union': {
      const columns = node.columns.filter((c) => required.has(c.name));
      const inputs = node.inputs.map((input) => {
        const pruned = prune(input, required);
        // Every input must keep exactly the union's columns.
        const kept = names(pruned.columns);
        return columns.every((c) => kept.has(c.name)) ? pruned : input;
      });
      return { ...node, inputs, columns };
    }
    case 'sink': return { ...node, input: prune(node.input, names(node.columns)) };
  }
}

/** A subtree either still runs on the agents (`local`) or already at the caller (`merged`). */
type Placed = { readonly local: PlanNode } | { readonly merged: PlanNode };

class Splitter {
  readonly fragments: PlanNode[] = [];

  /** Ends an agent-side chain: it becomes a node fragment, read at the caller by a remoteSource. */
  #ship(local: PlanNode): PlanNode {
    this.fragments.push(local);
    const fragment = this.fragments.length - 1;
    return fragment === 0 ? { op: 'remoteSource', columns: local.columns } : { op: 'remoteSource', columns: local.columns, fragment };
  }

  merged(placed: Placed): PlanNode {
    return 'merged' in placed ? placed.merged : this.#ship(placed.local);
  }

  place(node: PlanNode): Placed {
    switch (node.op) {
      case 'memorySource': return { local: node };
      case 'remoteSource': return { merged: node };
      case 'filter':
      case 'map': {
        const input = this.place(node.input);
        return 'local' in input ? { local: { ...node, input: input.local } } : { merged: { ...node, input: input.merged } };
      }
      case 'limit': {
        const input = this.place(node.input);
        if ('merged' in input) return { merged: { ...node, input: input.merged } };
        const local: PlanNode = { ...node, input: input.local };
        return { merged: { ...node, input: this.#ship(local) } };
      }
      case 'aggregate': {
        const input = this.place(node.input);
        if ('merged' in input) return { merged: { ...node, input: input.merged, mode: 'full' } };
        const partial: AggregateNode = {
          ...node, input: input.local, mode: 'partial',
          columns: [...node.columns.slice(0, node.groups.length), ...node.aggregates.flatMap(partialColumns)],
        };
        return { merged: { ...node, input: this.#ship(partial), mode: 'final' } };
      }
      case 'join': {
        const left = this.merged(this.place(node.left));
        const right = this.merged(this.place(node.right));
        return { merged: { ...node, left, right } };
      }
      case 'union': return { merged: { ...node, inputs: node.inputs.map((input) => this.merged(this.place(input))) } };
      case 'sink': throw new Error('plan output: a sink inside a plan');
    }
  }
}

/** Prunes and splits one output's plan. */
export function planOutput(sink: SinkNode): CompiledOutput {
  const plan = prune(sink, names(sink.columns)) as SinkNode;
  const splitter = new Splitter();
  const mergeInput = splitter.merged(splitter.place(plan.input));
  const nodeFragments = splitter.fragments;
  return {
    name: sink.name,
    columns: sink.columns,
    plan,
    nodeFragment: nodeFragments[0] as PlanNode,
    nodeFragments,
    mergeFragment: { op: 'sink', input: mergeInput, name: sink.name, columns: mergeInput.columns },
  };
}
