// Collector → agent ServiceAccount, ClusterRole/Binding, plan ConfigMap,
// headless Service and DaemonSet; Collector.status from node Leases.
//
// What Ready means: every desired object is applied and the plan ConfigMap
// holds the plan compiled from the current inputs (PlanPublished=True).
// Agents are reported separately (AgentsReady) because a Collector with no
// matching nodes, or agents still starting, is correctly configured.
//
// Level-based: reconcile(name) reads the Collector, nodes and Leases from the
// caches and recomputes everything; it never looks at what event caused it.
import type { V1Lease } from '@kubernetes/client-node';
import {
  HEALTH_ANNOTATION, PLAN_VERSION_ANNOTATION, agentLeaseName, parseAgentHealth,
} from '../../common/agent-plan.ts';
import { planForCollector } from '../plan/plan.compiler.ts';
import {
  agentClusterRole, agentClusterRoleBinding, agentObjects, DEFAULTS as MANIFEST_DEFAULTS,
} from '../manifests/agent.manifests.ts';
import type { Collector, CollectorStatus, NodeFailure } from '../resources.ts';
import { API_VERSION, KINDS } from '../resources.ts';
import { apiErrorMessage, isNotFound } from '../runtime/api-errors.ts';
import { type Condition, type ConditionInput, rfc3339, setConditions, stableJson } from '../runtime/conditions.ts';
import type { ReconcileResult } from '../runtime/work-queue.ts';
import { StatusMemo, type ControllerContext } from './controller-context.ts';

export const FINALIZER = 'wisp.dev/cluster-objects';

/** Re-check agents this often while some are not ready (Lease expiry has no event). */
export const AGENT_RECHECK_MS = 15_000;

/** Watches and owns, as data (see operator.ts for the wiring). */
export const COLLECTOR_CONTROLLER = Object.freeze({
  name: 'collector',
  watches: ['wisp.dev/v1alpha1 Collector', 'v1 Node', 'coordination.k8s.io/v1 Lease (wisp-agent-*)', 'Tracepoint, DataRetention, ExportPipeline (plan inputs)'],
  owns: ['v1 ServiceAccount', 'rbac ClusterRole', 'rbac ClusterRoleBinding', 'v1 ConfigMap wisp-agent-plan', 'v1 Service', 'apps/v1 DaemonSet'],
  /** RBAC it needs: a subset of src/operator/rbac.ts OPERATOR_RULES. */
  rbac: [
    { apiGroups: ['wisp.dev'], resources: ['collectors'], verbs: ['get', 'list', 'watch', 'patch'] },
    { apiGroups: ['wisp.dev'], resources: ['collectors/status'], verbs: ['patch'] },
    { apiGroups: [''], resources: ['serviceaccounts', 'services', 'configmaps'], verbs: ['get', 'create', 'patch', 'delete'] },
    { apiGroups: ['apps'], resources: ['daemonsets'], verbs: ['get', 'create', 'patch', 'delete'] },
    { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles', 'clusterrolebindings'], verbs: ['get', 'create', 'patch', 'delete'] },
    { apiGroups: [''], resources: ['nodes'], verbs: ['list', 'watch'] },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['list', 'watch'] },
    { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create'] },
  ],
});

export class CollectorController {
  private readonly ctx: ControllerContext;
  private readonly written = new StatusMemo();

  constructor(ctx: ControllerContext) { this.ctx = ctx; }

  async reconcile(name: string): Promise<ReconcileResult> {
    const collector = this.ctx.caches.collectors.get(name);
    if (!collector) { this.written.forget(name); return {}; } // deleted: owner references and the finalizer did the cleanup
    if (collector.metadata.deletionTimestamp) {
      await this.finalize(collector);
      return {};
    }
    if (!(collector.metadata.finalizers ?? []).includes(FINALIZER)) {
      await this.ctx.client.apply({ apiVersion: API_VERSION, kind: 'Collector', metadata: { name, finalizers: [FINALIZER] } });
    }
    const generation = collector.metadata.generation;
    const compiled = await this.ctx.plan.get();
    const plan = planForCollector(collector, compiled);
    const namespace = collector.spec?.namespace ?? MANIFEST_DEFAULTS.namespace;

    for (const object of agentObjects(collector, plan)) {
      try {
        await this.ctx.client.apply(object);
      } catch (error) {
        const message = apiErrorMessage((error as Error).cause ?? error);
        const missingNamespace = isNotFound((error as Error).cause) && /namespaces? .*not found/i.test(message);
        const reason = missingNamespace ? 'NamespaceNotFound' : 'ApplyFailed';
        const hint = missingNamespace
          ? `namespace ${namespace} (spec.namespace) does not exist; create it`
          : `could not apply ${object.kind} ${object.metadata?.name ?? ''}: ${message}`;
        await this.writeStatus(collector, {}, [
          { type: 'Ready', status: 'False', reason, message: hint },
          { type: 'PlanPublished', status: 'False', reason, message: hint },
        ]);
        if (missingNamespace) return { requeueAfterMs: AGENT_RECHECK_MS };
        throw error;
      }
    }

    const agents = this.agentStatus(collector, namespace, plan.version);
    const agentsReady: ConditionInput = agents.nodesDesired === 0
      ? { type: 'AgentsReady', status: 'False', reason: 'NoNodesSelected', message: 'no node matches spec.nodeSelector; label nodes or change the selector', observedGeneration: generation }
      : agents.nodesReady === agents.nodesDesired
        ? { type: 'AgentsReady', status: 'True', reason: 'AllAgentsReady', message: `${agents.nodesReady}/${agents.nodesDesired} agents run plan ${plan.version}`, observedGeneration: generation }
        : { type: 'AgentsReady', status: 'False', reason: 'AgentsNotReady', message: `${agents.nodesReady}/${agents.nodesDesired} agents ready; see status.nodeFailures`, observedGeneration: generation };
    await this.writeStatus(collector, { ...agents, planVersion: plan.version }, [
      { type: 'Ready', status: 'True', reason: 'Reconciled', message: `agent objects applied in ${namespace}; plan ${plan.version} published`, observedGeneration: generation },
      { type: 'PlanPublished', status: 'True', reason: 'Published', message: `plan ${plan.version} in ConfigMap ${namespace}/wisp-agent-plan`, observedGeneration: generation },
      agentsReady,
    ]);
    return agentsReady.status === 'True' ? {} : { requeueAfterMs: AGENT_RECHECK_MS };
  }

  /** nodesDesired / nodesReady / nodeFailures from the node and Lease caches. */
  agentStatus(collector: Collector, namespace: string, planVersion: string): Required<Pick<CollectorStatus, 'nodesDesired' | 'nodesReady' | 'nodeFailures'>> {
    const selector = collector.spec?.nodeSelector ?? {};
    const nodes = this.ctx.caches.nodes.list().filter((node) => {
      const nodeLabels = node.metadata?.labels ?? {};
      return Object.entries(selector).every(([k, v]) => nodeLabels[k] === v);
    });
    const now = (this.ctx.now ?? (() => new Date()))();
    const failures: NodeFailure[] = [];
    let ready = 0;
    for (const node of nodes) {
      const nodeName = node.metadata?.name ?? '';
      const lease = this.ctx.caches.leases.get(agentLeaseName(nodeName), namespace);
      const failure = judgeLease(lease, planVersion, now);
      if (failure) failures.push({ node: nodeName, ...failure });
      else ready++;
    }
    failures.sort((a, b) => (a.node < b.node ? -1 : 1));
    const previous = new Map((collector.status?.nodeFailures ?? []).map((f) => [`${f.node}/${f.reason}`, f.since]));
    const since = rfc3339(now);
    return {
      nodesDesired: nodes.length,
      nodesReady: ready,
      nodeFailures: failures.slice(0, 64).map((f) => ({ ...f, since: previous.get(`${f.node}/${f.reason}`) ?? since })),
    };
  }

  private async finalize(collector: Collector): Promise<void> {
    if (!(collector.metadata.finalizers ?? []).includes(FINALIZER)) return;
    // Cluster-scoped dependents: deleted here rather than left to the garbage
    // collector, so the Collector is gone only when they are.
    await this.ctx.client.delete(agentClusterRoleBinding(collector));
    await this.ctx.client.delete(agentClusterRole(collector));
    // Dropping the finalizer from our apply configuration releases it.
    await this.ctx.client.apply({ apiVersion: API_VERSION, kind: 'Collector', metadata: { name: collector.metadata.name ?? '', finalizers: [] } });
    this.ctx.log.info({ collector: collector.metadata.name }, 'collector cleaned up');
  }

  private async writeStatus(collector: Collector, fields: Partial<CollectorStatus>, updates: ConditionInput[]): Promise<void> {
    const generation = collector.metadata.generation;
    const withGeneration = updates.map((u) => ({ ...u, ...(generation !== undefined && { observedGeneration: generation }) }));
    const { conditions, transitions } = setConditions(collector.status?.conditions as Condition[] | undefined, withGeneration, (this.ctx.now ?? (() => new Date()))());
    const status: CollectorStatus = {
      ...(generation !== undefined && { observedGeneration: generation }),
      conditions,
      ...pick(collector.status, ['nodesDesired', 'nodesReady', 'planVersion', 'nodeFailures']),
      ...fields,
    };
    if (sameStatus(collector.status, status)) return;
    const name = collector.metadata.name ?? '';
    // Written already, and the cache has not caught up with that write yet.
    const digest = stableJson({ ...status, conditions: conditions.map(({ lastTransitionTime: _t, ...rest }) => rest) });
    if (this.written.alreadyWritten(name, digest, collector.metadata.resourceVersion)) return;
    await this.ctx.client.applyStatus(KINDS.Collector.plural, { apiVersion: API_VERSION, kind: 'Collector', metadata: { name }, status });
    this.written.remember(name, digest, collector.metadata.resourceVersion);
    for (const t of transitions) {
      this.ctx.client.event({
        regarding: { apiVersion: API_VERSION, kind: 'Collector', name: collector.metadata.name ?? '', ...(collector.metadata.uid && { uid: collector.metadata.uid }) },
        type: t.to === 'False' ? 'Warning' : 'Normal',
        reason: t.reason,
        note: `${t.type}=${t.to}: ${t.message}`,
        action: 'Reconcile',
      });
    }
  }
}

/** Why a node's agent is not ready, or undefined when it is. */
export function judgeLease(lease: V1Lease | undefined, planVersion: string, now: Date): Omit<NodeFailure, 'node' | 'since'> | undefined {
  if (!lease) return { reason: 'AgentNotReporting', message: 'no agent Lease yet: the agent pod is not running or cannot write Leases' };
  const renew = lease.spec?.renewTime ? new Date(lease.spec.renewTime as unknown as string).getTime() : NaN;
  const durationMs = (lease.spec?.leaseDurationSeconds ?? 40) * 1000;
  if (!Number.isFinite(renew) || now.getTime() > renew + durationMs) {
    return { reason: 'AgentNotReporting', message: `agent Lease not renewed since ${Number.isFinite(renew) ? new Date(renew).toISOString() : 'ever'}` };
  }
  const annotations = lease.metadata?.annotations ?? {};
  const health = parseAgentHealth(annotations[HEALTH_ANNOTATION]);
  if (!health) return { reason: 'HealthUnknown', message: `agent Lease has no valid ${HEALTH_ANNOTATION} annotation` };
  if (!health.ready) return { reason: health.reason || 'AgentNotReady', message: health.message || 'agent reports not ready' };
  const applied = annotations[PLAN_VERSION_ANNOTATION];
  if (applied !== planVersion) return { reason: 'PlanNotApplied', message: `agent runs plan ${applied ?? '(none)'}, current plan is ${planVersion}` };
  return undefined;
}

function pick<T extends object, K extends keyof T>(value: T | undefined, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  if (!value) return out;
  for (const key of keys) if (value[key] !== undefined) out[key] = value[key];
  return out;
}

/** Equal ignoring key order (status read back from the API server vs. built here). */
function sameStatus(a: unknown, b: unknown): boolean {
  return stableJson(a ?? {}) === stableJson(b ?? {});
}
