// The operator's RBAC, as data. `make manifests` renders config/rbac/role.yaml
// from it (src/operator/api/rbac.generator.ts), with each rule's `why` as a
// comment; the operator's tests run under exactly this role.
//
// Escalation rule: the API server lets a subject create or update a
// (Cluster)Role only with permissions it holds itself (unless it has the
// `escalate` verb, which we do not ask for). The operator creates the agents'
// ClusterRole, so it must hold every verb the agents get: the read-only
// pods/nodes/namespaces/services/endpointslices/replicasets rules below exist
// for that reason as much as for the operator's own use. Keep AGENT_RULES a
// subset of OPERATOR_RULES (rbac.test.ts checks it).

/** rbac.authorization.k8s.io/v1 PolicyRule, plus the reason it is needed. */
export interface PolicyRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
  readonly resourceNames?: readonly string[];
  /** Why the rule is needed; rendered as a comment above it. */
  readonly why: string;
}

const READ = Object.freeze(['get', 'list', 'watch']);
const WRITE = Object.freeze(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']);

/**
 * What the agents get from the ClusterRole the operator creates for each
 * Collector. The operator helper may add to it; the operator must then hold
 * the same verbs (escalation rule).
 */
export const AGENT_RULES: readonly PolicyRule[] = Object.freeze([
  { apiGroups: [''], resources: ['pods', 'namespaces', 'services', 'nodes'], verbs: READ, why: 'Resolve upid → container → pod, service and node names for every row.' },
  { apiGroups: ['apps'], resources: ['replicasets', 'deployments'], verbs: READ, why: 'Name the workload owning a pod (px.pod_to_deployment and friends).' },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: READ, why: 'Map remote addresses to services.' },
  { apiGroups: [''], resources: ['configmaps'], verbs: READ, why: 'Watch the agent plan ConfigMap wisp-agent-plan.' },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch'], why: 'Report node health and the applied plan in the Lease wisp-agent-<node>.' },
  { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'], why: 'Authenticate callers of the agent query API (bearer token).' },
  { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'], why: 'Answer only callers allowed to query agents (verb query on agents.wisp.dev): the query endpoint, admins.' },
].map((r) => Object.freeze(r)));

export const OPERATOR_RULES: readonly PolicyRule[] = Object.freeze([
  { apiGroups: ['wisp.dev'], resources: ['collectors', 'tracepoints', 'dataretentions', 'exportpipelines'], verbs: ['get', 'list', 'watch', 'patch', 'update'], why: 'Watch every Wisp resource; patch/update only metadata.finalizers (Collector cleanup), never spec.' },
  { apiGroups: ['wisp.dev'], resources: ['collectors/status', 'tracepoints/status', 'dataretentions/status', 'exportpipelines/status'], verbs: ['get', 'patch', 'update'], why: 'Write status (conditions, observedGeneration, counters).' },
  { apiGroups: ['wisp.dev'], resources: ['collectors/finalizers'], verbs: ['update'], why: 'Set owner references with blockOwnerDeletion to a Collector (OwnerReferencesPermissionEnforcement).' },
  { apiGroups: ['apps'], resources: ['daemonsets'], verbs: WRITE, why: 'Create and update the agent DaemonSet of each Collector; delete it with the Collector.' },
  { apiGroups: [''], resources: ['serviceaccounts', 'services', 'configmaps'], verbs: WRITE, why: 'Agent ServiceAccount, headless Service and the plan ConfigMap wisp-agent-plan.' },
  { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles', 'clusterrolebindings'], verbs: WRITE, why: 'The agents\' ClusterRole and its binding; only objects labelled app.kubernetes.io/managed-by=wisp-operator are touched.' },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: WRITE, why: 'Read agent health Leases wisp-agent-<node>; delete them with the Collector; grant the agents the same (escalation rule).' },
  { apiGroups: [''], resources: ['pods', 'namespaces', 'nodes', 'services'], verbs: READ, why: 'Count nodes that should run an agent, check spec.namespace exists; and the escalation rule: the agents\' ClusterRole grants these.' },
  { apiGroups: ['apps'], resources: ['replicasets', 'deployments'], verbs: READ, why: 'Escalation rule: the agents\' ClusterRole grants these.' },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: READ, why: 'Escalation rule: the agents\' ClusterRole grants these.' },
  { apiGroups: [''], resources: ['secrets'], verbs: READ, why: 'Check that Secrets named by ExportPipelines exist (Ready=False SecretNotFound otherwise); values are not copied. And the escalation rule: the per-pipeline Roles grant the agents get on those Secrets.' },
  { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: WRITE, why: 'Per ExportPipeline that names Secrets, a Role wisp-export-<name> (get on exactly those Secrets) bound to the agents, in the pipeline\'s namespace.' },
  { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch', 'update'], why: 'Record Kubernetes Events on condition transitions.' },
  { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'], why: 'Escalation rule: the agents\' ClusterRole grants it.' },
  { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'], why: 'Escalation rule: the agents\' ClusterRole grants it.' },
].map((r) => Object.freeze(r)));

/** Rules of the namespaced leader-election Role (in the operator's namespace). */
export const LEADER_ELECTION_RULES: readonly PolicyRule[] = Object.freeze([
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'], why: 'Leader election on the Lease wisp-operator.' },
  { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'], why: 'Record leader transitions.' },
].map((r) => Object.freeze(r)));
