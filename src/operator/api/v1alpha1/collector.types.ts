// Collector (cluster-scoped): where and how agents run. The operator turns one
// Collector into the agent ServiceAccount, ClusterRole/Binding, DaemonSet,
// headless Service and the agent plan ConfigMap in spec.namespace.
import { DNS_LABEL_PATTERN, s, type Infer } from '../schema.builder.ts';
import {
  conditions, GROUP, observedGeneration, toleration, VERSION,
  type KindNames, type Problem, type Resource,
} from './common.types.ts';
import { isLabelKey, validateQuantity } from './validation.ts';

export const COLLECTOR: KindNames = Object.freeze({
  group: GROUP, version: VERSION, kind: 'Collector', plural: 'collectors', singular: 'collector',
  shortNames: Object.freeze(['wcol']), scope: 'Cluster',
});

/** Data sources an agent can switch on; Pixie's names where Pixie has one. */
export const COLLECTOR_SOURCES = Object.freeze(
  ['http', 'http2', 'pgsql', 'mysql', 'redis', 'dns', 'tls', 'conn', 'process', 'network'] as const,
);

/** How much of captured payloads queries may see. */
export const DataAccess = Object.freeze({
  /** Everything captured, bodies included. */
  Full: 'Full',
  /** No bodies, headers or SQL arguments: metadata and timings only. */
  Restricted: 'Restricted',
  /** Bodies and arguments with values that look like personal data redacted. */
  PIIRestricted: 'PIIRestricted',
} as const);

/** Condition types the operator sets on a Collector, beyond Ready. */
export const CollectorConditions = Object.freeze({
  Ready: 'Ready',
  /** Agents of every selected node report healthy. */
  AgentsReady: 'AgentsReady',
  /** The agent plan ConfigMap holds the plan compiled from the current objects. */
  PlanPublished: 'PlanPublished',
} as const);

export const collectorSpec = s.object({
  namespace: s.string({
    description: 'Namespace the agents, their ServiceAccount, Service and plan ConfigMap live in. It must exist.',
    default: 'wisp-system', pattern: DNS_LABEL_PATTERN, maxLength: 63,
  }),
  image: s.string({
    description: 'Agent container image (the same image runs the operator).',
    default: 'wisp:0.1.0', minLength: 1, maxLength: 512,
  }),
  imagePullPolicy: s.enum(['Always', 'IfNotPresent', 'Never'] as const, {
    description: 'When the kubelet pulls the agent image.', default: 'IfNotPresent',
  }),
  nodeSelector: s.map(s.string({ description: 'Label value the node must carry.', maxLength: 63 }), {
    description: 'Run agents only on nodes with these labels. Empty: every schedulable node.', maxProperties: 32,
  }),
  tolerations: s.array(toleration, {
    description: 'Taints agents tolerate, e.g. to observe control-plane nodes.', maxItems: 32, listType: 'atomic',
  }),
  memoryLimit: s.quantity({
    description: 'Memory limit of the agent container (bytes or a quantity such as 1Gi). The agent stays under it under any load.',
    default: '1Gi',
  }),
  tableStorePercent: s.integer({
    description: 'Share of memoryLimit, in percent, kept for tables; the rest is for capture, parsing and queries.',
    default: 60, minimum: 1, maximum: 90, format: 'int32',
  }),
  sources: s.array(s.enum(COLLECTOR_SOURCES, { description: 'A data source.' }), {
    description: `Data sources the agents capture: ${COLLECTOR_SOURCES.join(', ')}.`,
    default: [...COLLECTOR_SOURCES], maxItems: COLLECTOR_SOURCES.length, listType: 'set',
  }),
  namespaces: s.object({
    include: s.array(s.string({ description: 'A namespace name.', pattern: DNS_LABEL_PATTERN, maxLength: 63 }), {
      description: 'Observe only pods in these namespaces. Empty: every namespace not excluded.', maxItems: 256, listType: 'set',
    }),
    exclude: s.array(s.string({ description: 'A namespace name.', pattern: DNS_LABEL_PATTERN, maxLength: 63 }), {
      description: 'Never observe pods in these namespaces.', maxItems: 256, listType: 'set',
    }),
  }, { description: 'Which namespaces\' pods are observed.', default: { exclude: ['kube-system'] } }).validate({
    rule: '!has(self.include) || !has(self.exclude) || !self.include.exists(n, n in self.exclude)',
    message: 'a namespace cannot be both included and excluded',
    fieldPath: '.include',
  }),
  maxBodyBytes: s.integer({
    description: 'Request and response bodies are cut at this many bytes; the original size is kept. 0 keeps no body.',
    default: 512, minimum: 0, maximum: 65536, format: 'int32',
  }),
  dataAccess: s.enum(Object.values(DataAccess), {
    description: 'What queries may see: Full (everything), Restricted (no bodies, headers or arguments), PIIRestricted (personal data redacted).',
    default: 'Full',
  }),
  listenPort: s.integer({
    description: 'Port of the agent\'s query API and /metrics on the pod IP.',
    default: 7070, minimum: 1024, maximum: 65535, format: 'int32',
  }),
  priorityClassName: s.string({
    description: 'PriorityClass of agent pods, so they are scheduled before the workloads they observe.',
    maxLength: 253,
  }),
}, { description: 'Where and how Wisp agents run.' });
export type CollectorSpec = Infer<typeof collectorSpec>;

export const nodeFailure = s.object({
  node: s.string({ description: 'Node name.', maxLength: 253 }).required(),
  reason: s.string({ description: 'CamelCase reason (e.g. AgentNotReporting, BpfLoadFailed).', maxLength: 128 }).required(),
  message: s.string({ description: 'What failed and what to fix.', maxLength: 4096 }),
  since: s.dateTime({ description: 'When the node started failing.' }),
}, { description: 'A node whose agent is not healthy.' });
export type NodeFailure = Infer<typeof nodeFailure>;

export const collectorStatus = s.object({
  observedGeneration,
  conditions,
  nodesDesired: s.integer({ description: 'Nodes that should run an agent.', minimum: 0, format: 'int32' }),
  nodesReady: s.integer({ description: 'Nodes whose agent reports healthy and runs the current plan.', minimum: 0, format: 'int32' }),
  planVersion: s.string({ description: 'Content hash of the agent plan last published.', maxLength: 128 }),
  nodeFailures: s.array(nodeFailure, {
    description: 'Nodes whose agent is failing, with the reason (the first 64).',
    maxItems: 64, listType: 'map', mapKeys: ['node'],
  }),
}, { description: 'What the operator and the agents observed.' });
export type CollectorStatus = Infer<typeof collectorStatus>;

export type Collector = Resource<'Collector', CollectorSpec, CollectorStatus>;

/** Exported so the CRD generator finds one declaration per kind. */
export const collectorSchema = Object.freeze({ names: COLLECTOR, spec: collectorSpec, status: collectorStatus });

/**
 * Problems the schema cannot express, found without the cluster: a memory
 * limit too small to hold anything, a nodeSelector the API server accepted
 * but that can never match. Pure: does not read or change `collector`.
 */
export function validateCollector(collector: Pick<Collector, 'spec'>): Problem[] {
  const problems: Problem[] = [];
  const spec = collector.spec;
  const memory = validateQuantity(spec.memoryLimit ?? '1Gi', 'spec.memoryLimit', problems);
  if (memory !== undefined && memory < 64 * 1024 * 1024) {
    problems.push({
      field: 'spec.memoryLimit', reason: 'MemoryLimitTooSmall',
      message: `memoryLimit ${String(spec.memoryLimit)} is below the 64Mi an agent needs; raise it`,
    });
  }
  for (const key of Object.keys(spec.nodeSelector ?? {})) {
    if (!isLabelKey(key)) {
      problems.push({
        field: 'spec.nodeSelector', reason: 'InvalidLabelKey',
        message: `nodeSelector key ${JSON.stringify(key)} is not a valid label key (prefix/name, name ≤ 63 characters)`,
      });
    }
  }
  return problems;
}
