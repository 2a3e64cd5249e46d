// Renders the operator's RBAC from src/operator/rbac.ts: config/rbac/role.yaml
// (ClusterRole wisp-operator) and config/rbac/leader_election_role.yaml (Role
// wisp-operator-leader-election). Each rule carries its reason as a comment.
//
//   node src/operator/api/rbac.generator.ts --out config/rbac
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { dump } from 'js-yaml';
import { LEADER_ELECTION_RULES, OPERATOR_RULES, type PolicyRule } from '../rbac.ts';
import { HEADER } from './crd.generator.ts';

export const OPERATOR_CLUSTER_ROLE = 'wisp-operator';
export const LEADER_ELECTION_ROLE = 'wisp-operator-leader-election';
/** Namespace of the operator in config/ (kustomize may override it). */
export const OPERATOR_NAMESPACE = 'wisp-system';

const LABELS = Object.freeze({ 'app.kubernetes.io/name': 'wisp', 'app.kubernetes.io/component': 'operator', 'app.kubernetes.io/part-of': 'wisp' });

/** A rule without its `why`, as the API server stores it. */
export function toK8sRule(rule: PolicyRule): Record<string, unknown> {
  return {
    apiGroups: [...rule.apiGroups],
    resources: [...rule.resources],
    ...(rule.resourceNames ? { resourceNames: [...rule.resourceNames] } : {}),
    verbs: [...rule.verbs],
  };
}

function renderRole(kind: 'ClusterRole' | 'Role', name: string, rules: readonly PolicyRule[]): string {
  const head = dump({ apiVersion: 'rbac.authorization.k8s.io/v1', kind, metadata: { name, ...(kind === 'Role' ? { namespace: OPERATOR_NAMESPACE } : {}), labels: { ...LABELS } } }, { lineWidth: -1 });
  const body = rules.map((rule) => {
    const item = dump([toK8sRule(rule)], { lineWidth: -1, flowLevel: 2 }).trimEnd().split('\n').map((l) => `  ${l}`).join('\n');
    return `  # ${rule.why}\n${item}\n`;
  }).join('');
  return `${HEADER}${head}rules:\n${body}`;
}

/** File name → content of every generated RBAC file. */
export function renderRbac(): Map<string, string> {
  return new Map([
    ['role.yaml', renderRole('ClusterRole', OPERATOR_CLUSTER_ROLE, OPERATOR_RULES)],
    ['leader_election_role.yaml', renderRole('Role', LEADER_ELECTION_ROLE, LEADER_ELECTION_RULES)],
  ]);
}

function main(argv: string[]): void {
  const { values } = parseArgs({ args: argv, options: { out: { type: 'string', default: 'config/rbac' } } });
  mkdirSync(values.out, { recursive: true });
  for (const [name, text] of renderRbac()) writeFileSync(join(values.out, name), text);
  process.stdout.write(`wrote operator RBAC to ${values.out}\n`);
}

if (import.meta.main) main(process.argv.slice(2));
