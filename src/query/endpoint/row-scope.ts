import type { CompiledQuery, PlanColumn, PlanNode, ScalarExpr } from '../plan.ts';
import type { RowScope } from '../../common/access-control.ts';

/**
 * Restricts every node fragment to rows of pods in `scope.namespaces`: each
 * table read gets a filter `upid_to_namespace(upid) == ns1 or …` right above
 * it, evaluated on the agents (where Kubernetes context is resolved), so rows
 * a requester may not read never leave the node. Rows without a pod resolve
 * to namespace '' and are kept only for requesters who may read all
 * namespaces (then nothing is rewritten).
 */
export function scopeToNamespaces(compiled: CompiledQuery, scope: RowScope): CompiledQuery {
  if (scope.allNamespaces) return compiled;
  return {
    ...compiled,
    outputs: compiled.outputs.map((output) => {
      const nodeFragments = output.nodeFragments.map((fragment) => scopeNode(fragment, scope.namespaces));
      return { ...output, nodeFragments, nodeFragment: nodeFragments[0]! };
    }),
  };
}

function scopeNode(node: PlanNode, namespaces: readonly string[]): PlanNode {
  if (node.op === 'memorySource') {
    const hasUpid = node.columns.some((c) => c.name === 'upid');
    const upid: PlanColumn = { name: 'upid', type: 'uint128', dictionary: true };
    const source = hasUpid ? node : { ...node, columns: [...node.columns, upid] };
    return { op: 'filter', input: source, predicate: namespaceIn(namespaces), columns: node.columns };
  }
  const withInput = node as PlanNode & { input?: PlanNode; left?: PlanNode; right?: PlanNode; inputs?: PlanNode[] };
  const copy: Record<string, unknown> = { ...node };
  if (withInput.input) copy['input'] = scopeNode(withInput.input, namespaces);
  if (withInput.left) copy['left'] = scopeNode(withInput.left, namespaces);
  if (withInput.right) copy['right'] = scopeNode(withInput.right, namespaces);
  if (withInput.inputs) copy['inputs'] = withInput.inputs.map((n) => scopeNode(n, namespaces));
  return copy as unknown as PlanNode;
}

function namespaceIn(namespaces: readonly string[]): ScalarExpr {
  const namespace: ScalarExpr = { kind: 'call', fn: 'upid_to_namespace', type: 'string', args: [{ kind: 'column', name: 'upid', type: 'uint128' }] };
  const tests = namespaces.map((ns): ScalarExpr => ({ kind: 'call', fn: 'equal', type: 'boolean', args: [namespace, { kind: 'literal', type: 'string', value: ns }] }));
  if (tests.length === 0) return { kind: 'literal', type: 'boolean', value: false };
  return tests.reduce((a, b) => ({ kind: 'call', fn: 'or', type: 'boolean', args: [a, b] }));
}
