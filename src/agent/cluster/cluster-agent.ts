import { CoordinationV1Api, CoreV1Api, V1MicroTime, Watch, type KubeConfig, type V1ConfigMap, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Agent } from '../agent.ts';
import {
  AGENT_LEASE_LABEL, agentLeaseName, HEALTH_ANNOTATION, PLAN_CONFIGMAP_NAME as PLAN_CONFIGMAP, PLAN_KEY, PLAN_VERSION_ANNOTATION,
  QUERY_ADDRESS_ANNOTATION, EXPORT_STATUS_ANNOTATION, type AgentExportStatus, type AgentHealth,
} from '../../common/agent-plan.ts';
import { ContextWatches } from '../k8s/context-watches.ts';
import type { PodIndex } from '../k8s/pod-index.ts';
import { parsePlan, type AppliedPlan } from './plan.ts';

export const DEFAULTS = Object.freeze({
  namespace: 'wisp-system',
  /** How often the node Lease is renewed (the operator reads it as the agent's heartbeat). */
  heartbeatMs: 10_000,
  leaseDurationSeconds: 30,
  /** Backoff of the plan watch after an error (API server restart, network), doubling up to the max. */
  watchRetryMs: 500,
  watchRetryMaxMs: 10_000,
});

export interface ClusterAgentOptions {
  kubeConfig: KubeConfig;
  nodeName: string;
  namespace?: string;
  agent: Agent;
  logger: Logger;
  /** Where the pods of this node and the EndpointSlices are kept (the index the agent resolves rows with). */
  pods?: PodIndex;
  heartbeatMs?: number;
  /**
   * host:port the cluster query endpoint should use to reach this agent
   * (in a pod: $(POD_IP):7070). Defaults to the bound address, unless that
   * is a wildcard address.
   */
  advertiseAddress?: string;
}

/**
 * A node agent in a cluster: watches the plan ConfigMap of its Collector
 * namespace, applies it to the running Agent at once, and renews a Lease
 * `wisp-agent-<node>` carrying the applied plan version and its health.
 * API errors never stop the agent: the watch restarts with backoff and the
 * next heartbeat reports again.
 */
export class ClusterAgent {
  readonly leaseName: string;
  private readonly options: Required<Omit<ClusterAgentOptions, 'heartbeatMs' | 'advertiseAddress' | 'pods'>> & { heartbeatMs: number; advertiseAddress?: string };
  private readonly context: ContextWatches | undefined;
  private readonly core: CoreV1Api;
  private readonly coordination: CoordinationV1Api;
  private applied: AppliedPlan | undefined;
  private health: AgentHealth = { ready: false, reason: 'WaitingForPlan', message: `no ${PLAN_CONFIGMAP} ConfigMap seen yet`, appliedAt: '' };
  private watchAbort: AbortController | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs: number = DEFAULTS.watchRetryMs;
  private stopped = false;
  private lastResourceVersion = '';

  constructor(options: ClusterAgentOptions) {
    this.options = { namespace: DEFAULTS.namespace, heartbeatMs: DEFAULTS.heartbeatMs, ...options };
    this.leaseName = agentLeaseName(options.nodeName);
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.coordination = options.kubeConfig.makeApiClient(CoordinationV1Api);
    if (options.pods) this.context = new ContextWatches({ kubeConfig: options.kubeConfig, nodeName: options.nodeName, pods: options.pods, logger: options.logger });
  }

  async start(): Promise<void> {
    await this.context?.start();
    await this.options.agent.start();
    this.watchPlan();
    await this.heartbeat();
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.options.heartbeatMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.retryTimer);
    this.watchAbort?.abort();
    this.context?.stop();
    await this.options.agent.stop();
  }

  /** The plan version applied last, if any. */
  get planVersion(): string | undefined {
    return this.applied?.version;
  }

  /** List, then watch from the list's resourceVersion; on any end, start over after a backoff. */
  private watchPlan(): void {
    if (this.stopped) return;
    const { namespace } = this.options;
    const fieldSelector = `metadata.name=${PLAN_CONFIGMAP}`;
    const restart = (error: unknown): void => {
      if (this.stopped) return;
      if (error) this.options.logger.warn({ err: describe(error), retryMs: this.retryMs }, 'plan watch ended; retrying');
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.watchPlan(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, DEFAULTS.watchRetryMaxMs);
    };
    this.core.listNamespacedConfigMap({ namespace, fieldSelector }).then(async (list) => {
      const current = list.items[0];
      if (current) this.onPlan(current);
      else this.setHealth({ ready: false, reason: 'WaitingForPlan', message: `no ConfigMap ${namespace}/${PLAN_CONFIGMAP} yet` });
      this.watchAbort = await new Watch(this.options.kubeConfig).watch(
        `/api/v1/namespaces/${namespace}/configmaps`,
        { fieldSelector, resourceVersion: list.metadata?.resourceVersion, allowWatchBookmarks: true },
        (phase, object: V1ConfigMap) => {
          this.retryMs = DEFAULTS.watchRetryMs;
          if (phase === 'ADDED' || phase === 'MODIFIED') this.onPlan(object);
          else if (phase === 'DELETED') this.setHealth({ ready: false, reason: 'PlanDeleted', message: `ConfigMap ${namespace}/${PLAN_CONFIGMAP} was deleted; keeping the last plan` });
        },
        (error) => restart(error ?? null),
      );
    }).catch(restart);
  }

  private onPlan(configMap: V1ConfigMap): void {
    const resourceVersion = configMap.metadata?.resourceVersion ?? '';
    if (resourceVersion && resourceVersion === this.lastResourceVersion) return;
    this.lastResourceVersion = resourceVersion;
    const annotated = configMap.metadata?.annotations?.[PLAN_VERSION_ANNOTATION];
    const text = configMap.data?.[PLAN_KEY];
    if (text === undefined) {
      this.setHealth({ ready: false, reason: 'InvalidPlan', message: `ConfigMap ${PLAN_CONFIGMAP} has no ${PLAN_KEY} key` });
      return;
    }
    try {
      const plan = parsePlan(text, annotated);
      if (plan.version === this.applied?.version) return;
      this.applied = { version: plan.version, problems: this.options.agent.applyPlan(plan) };
      const { problems } = this.applied;
      this.setHealth(problems.length === 0
        ? { ready: true, reason: 'PlanApplied', message: `plan ${plan.version} applied` }
        : { ready: true, reason: 'PlanAppliedWithProblems', message: problems.join('; ') });
      this.options.logger.info({ planVersion: plan.version, problems }, 'plan applied');
    } catch (error) {
      this.setHealth({ ready: false, reason: 'InvalidPlan', message: (error as Error).message });
    }
    // Report at once: the operator measures plan propagation by these Leases.
    void this.heartbeat();
  }

  private queryAddress(): string | undefined {
    if (this.options.advertiseAddress) return this.options.advertiseAddress;
    const bound = this.options.agent.queryAddress;
    return bound && !/^(0\.0\.0\.0|\[::\]):/.test(bound) ? bound : undefined;
  }

  private setHealth(health: Omit<AgentHealth, 'appliedAt'>): void {
    this.health = { ...health, appliedAt: new Date().toISOString() };
  }

  /** Creates or renews the node Lease; conflicts and API errors are retried at the next beat. */
  private async heartbeat(): Promise<void> {
    if (this.stopped) return;
    const { namespace, nodeName } = this.options;
    const annotations: Record<string, string> = {
      [PLAN_VERSION_ANNOTATION]: this.applied?.version ?? '',
      [HEALTH_ANNOTATION]: JSON.stringify(this.health),
      [EXPORT_STATUS_ANNOTATION]: JSON.stringify(this.options.agent.exports.statuses().map((s): AgentExportStatus => ({
        key: s.key, rowsRead: s.rowsRead, exported: s.itemsExported, dropped: s.dropped, queued: s.queuedItems,
        ...(s.lastSuccessTime && { lastSuccessTime: s.lastSuccessTime }),
        ...(s.lastError && { lastError: s.lastError.slice(0, 512), lastErrorTime: s.lastErrorTime, lastErrorReason: s.lastErrorReason }),
      }))),
    };
    const address = this.queryAddress();
    if (address) annotations[QUERY_ADDRESS_ANNOTATION] = address;
    const spec = {
      holderIdentity: nodeName,
      leaseDurationSeconds: DEFAULTS.leaseDurationSeconds,
      // MicroTime serializes with microseconds, as the API server requires for Leases.
      renewTime: new V1MicroTime(),
    };
    try {
      let lease: V1Lease | undefined;
      try {
        lease = await this.coordination.readNamespacedLease({ name: this.leaseName, namespace });
      } catch (error) {
        if (statusOf(error) !== 404) throw error;
      }
      const body: V1Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: {
          name: this.leaseName,
          namespace,
          labels: { 'app.kubernetes.io/name': 'wisp-agent', [AGENT_LEASE_LABEL]: 'true', 'wisp.dev/node': nodeName },
          annotations: { ...lease?.metadata?.annotations, ...annotations },
          ...(lease?.metadata?.resourceVersion && { resourceVersion: lease.metadata.resourceVersion }),
        },
        spec,
      };
      if (lease) await this.coordination.replaceNamespacedLease({ name: this.leaseName, namespace, body });
      else await this.coordination.createNamespacedLease({ namespace, body });
    } catch (error) {
      this.options.logger.warn({ err: describe(error) }, 'renew node lease failed; retrying at the next heartbeat');
    }
  }
}

function statusOf(error: unknown): number | undefined {
  return (error as { code?: number }).code;
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n')[0]!;
  return String(error);
}
