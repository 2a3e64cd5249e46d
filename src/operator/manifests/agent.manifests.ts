// Desired state of a Collector's agents, as pure functions of the Collector
// (and the plan). Applied with server-side apply under one field manager, so
// each function returns exactly the fields the operator owns — nothing the
// API server defaults, nothing another manager may set.
//
// Contracts:
// - Pure: same input, same output; the Collector is never mutated.
// - Every object carries COMMON_LABELS + the collector label and an owner
//   reference to the (cluster-scoped) Collector; the garbage collector removes
//   namespaced dependents when the Collector goes, the Collector finalizer
//   removes the cluster-scoped ones explicitly.
import type {
  V1ClusterRole, V1ClusterRoleBinding, V1ConfigMap, V1DaemonSet, V1OwnerReference, V1PolicyRule,
  V1Service, V1ServiceAccount,
} from '@kubernetes/client-node';
import type { AgentPlan } from '../../common/agent-plan.ts';
import { PLAN_CONFIGMAP_NAME, PLAN_KEY, PLAN_VERSION_ANNOTATION, canonicalJson } from '../../common/agent-plan.ts';
import type { Collector } from '../resources.ts';
import { AGENT_RULES } from '../rbac.ts';
import { API_VERSION } from '../resources.ts';

export const DEFAULTS = Object.freeze({
  namespace: 'wisp-system',
  image: 'wisp:0.1.0',
  memoryLimit: '1Gi',
  agentPort: 7070,
  cpuRequest: '100m',
});

export const AGENT_NAME = 'wisp-agent';
export const COLLECTOR_LABEL = 'wisp.dev/collector';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'wisp-operator';
export const COMMON_LABELS = Object.freeze({
  'app.kubernetes.io/name': AGENT_NAME,
  'app.kubernetes.io/part-of': 'wisp',
  [MANAGED_BY_LABEL]: MANAGED_BY,
});

/** Capabilities the agent container gets, each with the reason (also written as annotations). */
export const AGENT_CAPABILITIES = Object.freeze({
  BPF: 'load eBPF programs and create their maps and ring buffers (bpf(2))',
  PERFMON: 'attach programs to syscall tracepoints and uprobes (perf_event_open(2)) and let them read kernel memory such as socket addresses',
} as const);

/**
 * What the agent does NOT get, and why — kept beside the grants so reviewers
 * see both. Written as an annotation too.
 */
export const AGENT_PRIVILEGES_NOT_NEEDED = Object.freeze({
  SYS_ADMIN: 'CAP_BPF + CAP_PERFMON cover loading and attaching on kernels >= 5.8',
  SYS_RESOURCE: 'RLIMIT_MEMLOCK need not be raised: the kernel charges BPF memory to the cgroup (memory limit below)',
  NET_ADMIN: 'no XDP/tc programs; capture is on syscall and sock tracepoints',
  privileged: 'no device access or full capability set is needed',
  hostNetwork: 'eBPF sees every socket on the node from the host kernel; the query port lives on the pod IP',
  procHostPath: 'hostPID already shows every host process in the container\'s /proc (pid → cgroup → pod)',
  bpffsHostPath: 'the agent pins nothing; programs and maps live as long as the agent process',
} as const);

function namespaceOf(c: Collector): string { return c.spec?.namespace ?? DEFAULTS.namespace; }
function collectorName(c: Collector): string { return c.metadata.name ?? ''; }

/** Name of a Collector's cluster-scoped objects (unique per Collector). */
export function clusterObjectName(c: Collector): string { return `${AGENT_NAME}-${collectorName(c)}`; }

export function labels(c: Collector): Record<string, string> {
  return { ...COMMON_LABELS, [COLLECTOR_LABEL]: collectorName(c) };
}

/** Pod selector of the DaemonSet and the Service (immutable once created: keep it small). */
export function selectorLabels(c: Collector): Record<string, string> {
  return { 'app.kubernetes.io/name': AGENT_NAME, [COLLECTOR_LABEL]: collectorName(c) };
}

export function ownerReference(c: Collector): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: 'Collector',
    name: collectorName(c),
    uid: c.metadata.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

function meta(c: Collector, name: string, namespaced: boolean) {
  return {
    name,
    ...(namespaced && { namespace: namespaceOf(c) }),
    labels: labels(c),
    ownerReferences: [ownerReference(c)],
  };
}

export function agentServiceAccount(c: Collector): V1ServiceAccount {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: meta(c, AGENT_NAME, true),
    // The agent talks to the API server (plan, Lease, pod look-ups).
    automountServiceAccountToken: true,
  };
}

/**
 * The agents' rules: src/operator/rbac.ts AGENT_RULES (one source, with the
 * reason for each rule there; the operator must hold them all to grant them).
 * They sit in one ClusterRole: moving the configmaps/leases rules into a
 * namespaced Role needs roles/rolebindings in OPERATOR_RULES first.
 */
export const AGENT_CLUSTER_RULES: readonly V1PolicyRule[] = Object.freeze(
  AGENT_RULES.map((r) => ({
    apiGroups: [...r.apiGroups],
    resources: [...r.resources],
    verbs: [...r.verbs],
    ...(r.resourceNames && { resourceNames: [...r.resourceNames] }),
  })),
);

export function agentClusterRole(c: Collector): V1ClusterRole {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: meta(c, clusterObjectName(c), false),
    rules: AGENT_CLUSTER_RULES.map((r) => ({ ...r, apiGroups: [...(r.apiGroups ?? [])], resources: [...(r.resources ?? [])], verbs: [...r.verbs] })),
  };
}

export function agentClusterRoleBinding(c: Collector): V1ClusterRoleBinding {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: meta(c, clusterObjectName(c), false),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterObjectName(c) },
    subjects: [{ kind: 'ServiceAccount', name: AGENT_NAME, namespace: namespaceOf(c) }],
  };
}

export function agentDaemonSet(c: Collector): V1DaemonSet {
  const spec = c.spec ?? {};
  const namespace = namespaceOf(c);
  const memoryLimit = String(spec.memoryLimit ?? DEFAULTS.memoryLimit);
  const annotations: Record<string, string> = {};
  for (const [cap, why] of Object.entries(AGENT_CAPABILITIES)) annotations[`capabilities.wisp.dev/${cap}`] = why;
  for (const [what, why] of Object.entries(AGENT_PRIVILEGES_NOT_NEEDED)) annotations[`not-needed.wisp.dev/${what}`] = why;
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { ...meta(c, AGENT_NAME, true), annotations },
    spec: {
      selector: { matchLabels: selectorLabels(c) },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '10%' } },
      template: {
        metadata: { labels: labels(c), annotations: { ...annotations } },
        spec: {
          serviceAccountName: AGENT_NAME,
          // Every process of the node must be visible: pid → cgroup → pod, and
          // uprobes resolve binaries through /proc/<pid>/exe.
          hostPID: true,
          nodeSelector: { 'kubernetes.io/os': 'linux', ...(spec.nodeSelector ?? {}) },
          tolerations: (spec.tolerations ?? []).map((t) => ({ ...t })),
          priorityClassName: 'system-node-critical',
          terminationGracePeriodSeconds: 30,
          securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
          containers: [{
            name: 'agent',
            image: spec.image ?? DEFAULTS.image,
            ...(spec.imagePullPolicy !== undefined && { imagePullPolicy: spec.imagePullPolicy }),
            args: [
              'agent',
              '--node-name', '$(NODE_NAME)',
              '--plan-namespace', namespace,
              '--listen', `$(POD_IP):${DEFAULTS.agentPort}`,
              '--memory-limit', memoryLimit,
            ],
            env: [
              { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
              { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            ],
            ports: [{ name: 'query', containerPort: DEFAULTS.agentPort, protocol: 'TCP' }],
            resources: {
              // The agent keeps itself under memoryLimit (tables get tableStorePercent of it);
              // the kernel also charges its BPF maps to this cgroup.
              limits: { memory: memoryLimit },
              requests: { memory: memoryLimit, cpu: DEFAULTS.cpuRequest },
            },
            securityContext: {
              // Root inside the container because Kubernetes cannot grant ambient
              // capabilities to a non-root user; everything else is dropped.
              runAsUser: 0,
              runAsNonRoot: false,
              privileged: false,
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ['ALL'], add: Object.keys(AGENT_CAPABILITIES) },
            },
            volumeMounts: [
              // Tracepoint ids (events/*/id) are read from tracefs; read-only.
              { name: 'tracefs', mountPath: '/sys/kernel/tracing', readOnly: true },
              // The node's cgroup hierarchy (the container sees only its own): cgroup id → pod and container.
              { name: 'host-cgroup', mountPath: '/host/sys/fs/cgroup', readOnly: true },
            ],
          }],
          volumes: [
            { name: 'tracefs', hostPath: { path: '/sys/kernel/tracing', type: 'Directory' } },
            { name: 'host-cgroup', hostPath: { path: '/sys/fs/cgroup', type: 'Directory' } },
          ],
        },
      },
    },
  };
}

export function agentService(c: Collector): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(c, AGENT_NAME, true),
    spec: {
      // Headless: queries fan out to every agent, never to one picked at random.
      clusterIP: 'None',
      selector: selectorLabels(c),
      ports: [{ name: 'query', port: DEFAULTS.agentPort, targetPort: 'query', protocol: 'TCP' }],
      publishNotReadyAddresses: false,
    },
  };
}

export function agentPlanConfigMap(c: Collector, plan: AgentPlan): V1ConfigMap {
  const base = meta(c, PLAN_CONFIGMAP_NAME, true);
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { ...base, annotations: { [PLAN_VERSION_ANNOTATION]: plan.version } },
    data: { [PLAN_KEY]: canonicalJson(plan) },
  };
}

/** Everything a Collector owns, in apply order (RBAC before the pods that use it). */
export function agentObjects(c: Collector, plan: AgentPlan): Array<{ apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string } }> {
  return [
    agentServiceAccount(c), agentClusterRole(c), agentClusterRoleBinding(c),
    agentPlanConfigMap(c, plan), agentService(c), agentDaemonSet(c),
  ];
}
