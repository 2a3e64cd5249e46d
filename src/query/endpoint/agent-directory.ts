import { CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { AGENT_LEASE_LABEL, QUERY_ADDRESS_ANNOTATION } from '../../common/agent-plan.ts';

/** An agent the endpoint can fan out to. */
export interface AgentAddress {
  readonly node: string;
  /** host:port of its query API. */
  readonly address: string;
}

/** Agents that are alive and reachable, and those that are not (with why). */
export interface AgentListing {
  readonly reachable: readonly AgentAddress[];
  readonly unreachable: readonly { node: string; error: string }[];
}

export interface AgentDirectory {
  list(): Promise<AgentListing>;
}

/**
 * Finds agents through their node Leases (label wisp.dev/agent-lease) in the
 * Collector's namespace: each carries its query address, and a Lease not
 * renewed within its duration marks an agent that is gone. Leases rather than
 * the headless Service's endpoints because they also say which agents are
 * stale, and they work for agents running as host processes (the test bed).
 */
export class LeaseAgentDirectory implements AgentDirectory {
  private readonly api: CoordinationV1Api;
  private readonly namespace: string;

  constructor(kubeConfig: KubeConfig, namespace: string) {
    this.api = kubeConfig.makeApiClient(CoordinationV1Api);
    this.namespace = namespace;
  }

  async list(): Promise<AgentListing> {
    const leases = await this.api.listNamespacedLease({ namespace: this.namespace, labelSelector: `${AGENT_LEASE_LABEL}=true` });
    return classifyLeases(leases.items, Date.now());
  }
}

/** Pure: which Leases name a live agent with an address. */
export function classifyLeases(leases: readonly V1Lease[], nowMs: number): AgentListing {
  const reachable: AgentAddress[] = [];
  const unreachable: { node: string; error: string }[] = [];
  for (const lease of leases) {
    const node = lease.spec?.holderIdentity ?? lease.metadata?.name ?? '?';
    const address = lease.metadata?.annotations?.[QUERY_ADDRESS_ANNOTATION];
    const renewed = lease.spec?.renewTime ? new Date(lease.spec.renewTime).getTime() : 0;
    const durationMs = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
    if (renewed + durationMs < nowMs) unreachable.push({ node, error: `agent lease not renewed since ${renewed ? new Date(renewed).toISOString() : 'ever'}` });
    else if (!address) unreachable.push({ node, error: `agent lease has no ${QUERY_ADDRESS_ANNOTATION}` });
    else reachable.push({ node, address });
  }
  reachable.sort((a, b) => a.node.localeCompare(b.node));
  return { reachable, unreachable };
}
